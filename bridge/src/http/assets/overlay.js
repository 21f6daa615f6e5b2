// The overlay: the fields the user chose, drawn together on one chart with
// one automatic range, each in its card's colour, named in a legend. The
// card shows while at least one chosen field is shown.

import { Chart } from './chart.js';

const template = document.getElementById('overlay-card');

export class OverlayCard {
  constructor() {
    const element = template.content.firstElementChild.cloneNode(true);
    this.element = element;
    this.legend = element.querySelector('.legend');
    this.chart = new Chart(element.querySelector('canvas'), {
      top: element.querySelector('.top'),
      bottom: element.querySelector('.bottom'),
      readout: element.querySelector('.readout'),
    });
    this.cards = [];
  }

  /** Draws `cards` (FieldCards, in order) from now on. */
  show(cards) {
    this.cards = cards;
    this.element.hidden = cards.length === 0;
    this.legend.replaceChildren(
      ...cards.map((card) => {
        const item = document.createElement('span');
        item.className = 'legend-item';
        item.style.setProperty('--accent', card.color);
        item.textContent = card.label.textContent;
        return item;
      }),
    );
  }

  render(view) {
    if (!this.cards.length) return;
    const series = this.cards.map(({ trace, color, write }) => ({ trace, color, write }));
    const minSpan = Math.max(...this.cards.map((card) => card.minSpan));
    this.chart.draw(series, view, { fixed: null, minSpan });
  }
}

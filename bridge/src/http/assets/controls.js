// The toolbar over the charts: the window (1 min to 7 d), pause and
// resume, "Download CSV" of what is on screen, and a switch per series
// that shows or hides it.

import { WINDOWS } from './view.js';

const element = (id) => document.getElementById(id);

export class Controls {
  /**
   * Drives `view` and `board`; `onWindow()` after the window changed,
   * `onDownload()` when the CSV is asked for.
   */
  constructor(view, board, { onWindow, onDownload }) {
    this.view = view;
    this.board = board;
    const windows = element('windows');
    for (const choice of WINDOWS) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = choice.label;
      button.dataset.window = String(choice.ms);
      button.setAttribute('aria-pressed', String(choice === view.window));
      button.addEventListener('click', () => {
        if (choice === view.window) return;
        view.choose(choice);
        for (const other of windows.children) other.setAttribute('aria-pressed', String(other === button));
        this.showSpan();
        onWindow();
      });
      windows.appendChild(button);
    }
    const pause = element('pause');
    pause.addEventListener('click', () => {
      if (view.paused) view.resume();
      else view.pause();
      pause.setAttribute('aria-pressed', String(view.paused));
      pause.textContent = view.paused ? 'Resume' : 'Pause';
      document.body.classList.toggle('paused', view.paused);
      this.showSpan();
    });
    element('download').addEventListener('click', onDownload);
    this.series = element('series');
    this.showSpan();
  }

  /** A switch per field, in the board's order, pressed while its series shows. */
  showSeries() {
    this.series.replaceChildren(
      ...[...this.board.cards.values()].map((card) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'series-switch';
        button.dataset.series = card.name;
        button.style.setProperty('--accent', card.color);
        button.textContent = card.label.textContent;
        const shown = () => !this.board.hidden.has(card.name);
        button.setAttribute('aria-pressed', String(shown()));
        button.addEventListener('click', () => {
          this.board.show(card.name, !shown());
          button.setAttribute('aria-pressed', String(shown()));
        });
        return button;
      }),
    );
  }

  /** The footer says what the charts show. */
  showSpan() {
    const { view } = this;
    element('span').textContent = view.paused
      ? `paused at ${view.timeText(view.end)} · the last ${view.window.label} before`
      : `every chart shows the last ${view.window.label}`;
  }

  /** A short word beside the download button (a failure, say); '' clears it. */
  note(text) {
    element('note').textContent = text;
  }
}

// The Esplora's joystick and switches, drawn as on the board, for a board
// that sends them: the knob follows joystick_x and joystick_y (-512..511),
// and each bit of `buttons` lights its switch. Each half of the card shows
// once its fields have arrived.

export const ESPLORA_FIELDS = ['joystick_x', 'joystick_y', 'buttons'];

const template = document.getElementById('esplora-card');
const STICK_RANGE = 512;
const KNOB_TRAVEL = 41;

export class EsploraCard {
  constructor() {
    const element = template.content.firstElementChild.cloneNode(true);
    this.element = element;
    this.stick = element.querySelector('.stick-figure');
    this.knob = element.querySelector('.stick-knob');
    this.pad = element.querySelector('.pad-figure');
    this.raw = element.querySelector('[data-value="buttons"]');
    this.switches = [...element.querySelectorAll('[data-button]')];
    this.x = 0;
    this.y = 0;
    this.buttons = null;
    this.changed = false;
  }

  /** A new value of one of ESPLORA_FIELDS. */
  record(field, value) {
    if (field === 'buttons') {
      this.buttons = value;
      this.pad.hidden = false;
    } else {
      const at = Math.max(-1, Math.min(1, value / STICK_RANGE));
      if (field === 'joystick_x') this.x = at;
      else this.y = at;
      this.stick.hidden = false;
    }
    this.changed = true;
  }

  render() {
    if (!this.changed) return;
    this.changed = false;
    this.knob.setAttribute('cx', (this.x * KNOB_TRAVEL).toFixed(1));
    this.knob.setAttribute('cy', (-this.y * KNOB_TRAVEL).toFixed(1));
    if (this.buttons === null) return;
    this.raw.textContent = String(this.buttons);
    for (const light of this.switches) {
      light.classList.toggle('lit', ((this.buttons >> Number(light.dataset.button)) & 1) === 1);
    }
  }
}

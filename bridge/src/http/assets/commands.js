// The board's controls, for a daemon whose commands reach a board: an LED
// colour picker and a tone button, sent as the WebSocket commands
// (`{"type":"command","led":[r,g,b]}`, `{"type":"command","tone":HZ,"ms":MS}`).
//
// The socket is opened when there is something to send and closed once
// everything sent is answered, since /ws also streams every event, which
// the page already has from /events. One command is on its way at a time;
// a colour picked while one is (dragging across the picker) replaces the
// one waiting, so the LED follows the hand without flooding the board.

const TONE_MS = 200;

const element = (id) => document.getElementById(id);

export class BoardControls {
  constructor() {
    this.socket = null;
    /** The command sent and not yet answered, and the one waiting for it. */
    this.sent = null;
    this.waiting = null;
    element('led').addEventListener('input', (event) => {
      const hex = event.target.value;
      const rgb = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      this.send({ type: 'command', led: rgb });
    });
    element('tone').addEventListener('click', () => {
      const hz = Number(element('tone-hz').value);
      this.send({ type: 'command', tone: hz, ms: TONE_MS });
    });
  }

  /** Shows the controls (`enabled`) or hides them. */
  enable(enabled) {
    element('board-controls').hidden = !enabled;
  }

  send(command) {
    this.waiting = command;
    if (this.sent) return;
    if (!this.socket) this.open();
    else if (this.socket.readyState === WebSocket.OPEN) this.next();
  }

  open() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.next();
    };
    socket.onmessage = (message) => this.answered(JSON.parse(message.data));
    socket.onclose = () => {
      if (!opened) {
        this.say('the daemon refused the connection for commands');
        this.waiting = null;
      } else if (this.sent) this.say('the connection closed before the board answered');
      this.socket = null;
      this.sent = null;
      // A command picked while the socket was closing.
      if (this.waiting) this.open();
    };
  }

  /** Sends the waiting command, or closes the socket if there is none. */
  next() {
    this.sent = this.waiting;
    this.waiting = null;
    if (this.sent) this.socket.send(JSON.stringify(this.sent));
    else this.socket.close();
  }

  /** A frame from /ws: an answer to the command sent, or an event (ignored). */
  answered(frame) {
    if (frame.type !== 'ack' && frame.type !== 'error') return;
    this.say(frame.type === 'ack' ? `sent ${frame.command}` : frame.error);
    this.next();
  }

  say(text) {
    element('command-state').textContent = text;
  }
}

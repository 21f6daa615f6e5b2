/*
  esplora-bridge: the Arduino Esplora side of the esplora-bridge daemon.

  Sends one line of sensor readings per period (100 Hz by default) over the
  USB serial port and accepts a few command lines from the host. The exact
  protocol, both ways, is described in ../README.md; keep the two in step.

  Reading line (board -> host), '\n' only:
    s:<slider>,x:<ax>,y:<ay>,z:<az>,j:<joyX>,k:<joyY>,l:<light>,m:<mic>,
    t:<temp C>,u:<user>,b:<buttons>,n:<seq>*HH
  Command lines (host -> board), at most 64 bytes before the '\n':
    led:r,g,b   tone:hz,ms   rate:hz
  Each command line is answered by exactly one "ok:<name>" or "err:<reason>".
*/

#include <Esplora.h>

// ---------------------------------------------------------------------------
// Tunables and limits. Types live up here too: the Arduino build inserts
// function prototypes before the first function, so anything a signature
// mentions must already be declared by then.
// ---------------------------------------------------------------------------

// The 32u4 talks USB CDC, so the baud rate is ignored by the hardware; it
// is passed only because Serial.begin() wants a number.
const unsigned long SERIAL_BAUD = 115200UL;

const uint16_t DEFAULT_RATE_HZ = 100;
const uint16_t MIN_RATE_HZ = 1;
const uint16_t MAX_RATE_HZ = 200;

const uint16_t MIN_TONE_HZ = 20;
const uint16_t MAX_TONE_HZ = 20000;
const uint16_t MIN_TONE_MS = 1;
const uint16_t MAX_TONE_MS = 10000;

// Longest accepted command, not counting the line ending.
const uint8_t MAX_COMMAND_LEN = 64;

// Input bytes handled per loop() pass. A host that floods us must not be
// able to starve the reading schedule, so input is drained in slices.
const uint8_t MAX_INPUT_BYTES_PER_PASS = 64;

// The longest reading line is 82 bytes (see README); leave headroom.
const uint8_t READING_BUF_LEN = 112;

const char HEX_DIGITS[] = "0123456789ABCDEF";

// Button bitmask layout, shared with the host and documented in the README.
const uint8_t BUTTON_DOWN_BIT     = 0;  // SWITCH_1
const uint8_t BUTTON_LEFT_BIT     = 1;  // SWITCH_2
const uint8_t BUTTON_UP_BIT       = 2;  // SWITCH_3
const uint8_t BUTTON_RIGHT_BIT    = 3;  // SWITCH_4
const uint8_t BUTTON_JOYSTICK_BIT = 4;  // joystick push switch

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

// +1 so a '\r' right before the '\n' still fits after 64 payload bytes,
// +1 for the terminating NUL.
char commandBuf[MAX_COMMAND_LEN + 2];
uint8_t commandLen = 0;

// Set once the current command line has overflowed: everything up to the
// next '\n' is thrown away and the whole line is answered with too_long.
bool discardingCommand = false;

uint32_t periodUs = 1000000UL / DEFAULT_RATE_HZ;
uint32_t lastReadingUs = 0;

// Counts lines actually sent, so every gap the host sees in n is a line
// lost between us and it. uint16_t wraps at 65536 by itself.
uint16_t sequence = 0;

bool hostConnected = false;

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

// A whole line goes out in a single write: on the 32u4 every Serial write
// call tends to become its own USB packet, and one call per line also
// guarantees that a reply never lands in the middle of a reading.
void sendReply(const char *status, const char *word) {
  char reply[32];
  int len = snprintf_P(reply, sizeof reply, PSTR("%s:%s\n"), status, word);
  if (len > 0 && len < (int)sizeof reply) {
    Serial.write(reinterpret_cast<const uint8_t *>(reply), len);
  }
}

uint8_t readButtons() {
  uint8_t bits = 0;
  // readButton() is LOW while a switch is held; the host wants 1 = pressed.
  if (Esplora.readButton(SWITCH_1) == LOW) bits |= _BV(BUTTON_DOWN_BIT);
  if (Esplora.readButton(SWITCH_2) == LOW) bits |= _BV(BUTTON_LEFT_BIT);
  if (Esplora.readButton(SWITCH_3) == LOW) bits |= _BV(BUTTON_UP_BIT);
  if (Esplora.readButton(SWITCH_4) == LOW) bits |= _BV(BUTTON_RIGHT_BIT);
  // The library has no readButton() constant for the joystick's push
  // switch. readJoystickSwitch() reports it as 0 (pressed) or 1023, and
  // readJoystickButton() has no defined result for anything in between,
  // so compare against mid-scale the way readButton() does.
  if (Esplora.readJoystickSwitch() < 512) bits |= _BV(BUTTON_JOYSTICK_BIT);
  return bits;
}

void sendReading() {
  char line[READING_BUF_LEN];

  // The format string stays in flash (PSTR): the 32u4 has 2.5 KB of RAM.
  // On AVR int is 16 bits, so %d / %u match the library's return types.
  int len = snprintf_P(line, sizeof line,
                       PSTR("s:%u,x:%d,y:%d,z:%d,j:%d,k:%d,l:%u,m:%u,t:%d,u:%d,b:%u,n:%u"),
                       Esplora.readSlider(),
                       Esplora.readAccelerometer(X_AXIS),
                       Esplora.readAccelerometer(Y_AXIS),
                       Esplora.readAccelerometer(Z_AXIS),
                       Esplora.readJoystickX(),
                       Esplora.readJoystickY(),
                       Esplora.readLightSensor(),
                       Esplora.readMicrophone(),
                       Esplora.readTemperature(DEGREES_C),
                       0,  // u: reserved for a user value; nothing feeds it yet
                       (unsigned int)readButtons(),
                       (unsigned int)sequence);

  // Room is needed for "*HH\n" after the fields. This cannot fail with the
  // values above, but a truncated line with a valid checksum would be worse
  // than no line, so check rather than trust.
  if (len <= 0 || len + 4 >= (int)sizeof line) {
    return;
  }

  // NMEA-style checksum: XOR of every byte before the '*'. It lets the host
  // tell a corrupted line from a real jump in a value.
  uint8_t checksum = 0;
  for (int i = 0; i < len; i++) {
    checksum ^= (uint8_t)line[i];
  }
  line[len++] = '*';
  line[len++] = HEX_DIGITS[checksum >> 4];
  line[len++] = HEX_DIGITS[checksum & 0x0F];
  line[len++] = '\n';

  Serial.write(reinterpret_cast<const uint8_t *>(line), len);
  sequence++;
}

// ---------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------

bool isAsciiDigit(char c) {
  return c >= '0' && c <= '9';
}

// Parses exactly `count` comma-separated unsigned decimal numbers filling
// the whole of `text`. Signs, spaces and empty fields are rejected so that
// a garbled command fails loudly instead of doing something half-right.
// Values saturate instead of overflowing; the callers' range checks then
// reject them as out of range.
bool parseNumbers(const char *text, uint32_t *values, uint8_t count) {
  for (uint8_t i = 0; i < count; i++) {
    if (!isAsciiDigit(*text)) {
      return false;
    }
    uint32_t value = 0;
    while (isAsciiDigit(*text)) {
      if (value < 1000000UL) {
        value = value * 10 + (uint32_t)(*text - '0');
      }
      text++;
    }
    values[i] = value;

    const bool last = (i + 1 == count);
    if (last) {
      return *text == '\0';
    }
    if (*text != ',') {
      return false;
    }
    text++;
  }
  return false;  // count == 0: no command takes zero arguments
}

bool inRange(uint32_t value, uint32_t low, uint32_t high) {
  return value >= low && value <= high;
}

// `line` has had its line ending removed and is NUL-terminated.
void handleCommand(char *line) {
  // "name:args"; a bare "name" gets an empty argument list so that "led"
  // reads as bad arguments rather than as an unknown command.
  const char *args = "";
  char *colon = strchr(line, ':');
  if (colon != NULL) {
    *colon = '\0';
    args = colon + 1;
  }
  const char *name = line;
  uint32_t v[3];

  if (strcmp(name, "led") == 0) {
    if (!parseNumbers(args, v, 3)) {
      sendReply("err", "bad_args");
    } else if (v[0] > 255 || v[1] > 255 || v[2] > 255) {
      sendReply("err", "out_of_range");
    } else {
      // Note: the library pauses 5 ms per colour channel that changes, so
      // this can delay the next reading by up to 15 ms (it is not lost).
      Esplora.writeRGB((byte)v[0], (byte)v[1], (byte)v[2]);
      sendReply("ok", "led");
    }
  } else if (strcmp(name, "tone") == 0) {
    if (!parseNumbers(args, v, 2)) {
      sendReply("err", "bad_args");
    } else if (!inRange(v[0], MIN_TONE_HZ, MAX_TONE_HZ) || !inRange(v[1], MIN_TONE_MS, MAX_TONE_MS)) {
      sendReply("err", "out_of_range");
    } else {
      // tone() with a duration runs off a timer interrupt and returns at
      // once, so the readings keep flowing while it sounds.
      Esplora.tone((unsigned int)v[0], (unsigned long)v[1]);
      sendReply("ok", "tone");
    }
  } else if (strcmp(name, "rate") == 0) {
    if (!parseNumbers(args, v, 1)) {
      sendReply("err", "bad_args");
    } else if (!inRange(v[0], MIN_RATE_HZ, MAX_RATE_HZ)) {
      sendReply("err", "out_of_range");
    } else {
      // Takes effect from the next reading; lastReadingUs is kept so the
      // schedule does not restart (and n does not skip).
      periodUs = 1000000UL / v[0];
      sendReply("ok", "rate");
    }
  } else {
    sendReply("err", "unknown_command");
  }
}

void finishCommandLine() {
  if (discardingCommand) {
    discardingCommand = false;
    commandLen = 0;
    sendReply("err", "too_long");
    return;
  }

  // Accept "\r\n" as well as "\n": a terminal program may send either.
  if (commandLen > 0 && commandBuf[commandLen - 1] == '\r') {
    commandLen--;
  }
  commandBuf[commandLen] = '\0';
  const uint8_t len = commandLen;
  commandLen = 0;

  // A blank line is not a command and gets no reply, so the host may send
  // a bare "\n" to flush whatever half-line a previous session left here.
  if (len == 0) {
    return;
  }
  if (len > MAX_COMMAND_LEN) {
    sendReply("err", "too_long");
    return;
  }
  // An embedded NUL would silently cut the line short for strcmp() and
  // friends; refuse the line rather than act on a prefix of it.
  if (memchr(commandBuf, '\0', len) != NULL) {
    sendReply("err", "bad_args");
    return;
  }
  handleCommand(commandBuf);
}

void pollCommands() {
  for (uint8_t i = 0; i < MAX_INPUT_BYTES_PER_PASS; i++) {
    const int c = Serial.read();
    if (c < 0) {
      return;  // nothing more buffered
    }
    if (c == '\n') {
      finishCommandLine();
    } else if (discardingCommand) {
      // still skipping the rest of an overlong line
    } else if (commandLen >= sizeof commandBuf - 1) {
      // Full (64 bytes plus a possible '\r'). The line is dropped, not
      // truncated: a cut-off prefix could be a different valid command.
      discardingCommand = true;
    } else {
      commandBuf[commandLen++] = (char)c;
    }
  }
}

// ---------------------------------------------------------------------------
// Timing
// ---------------------------------------------------------------------------

void maybeSendReading() {
  const uint32_t now = micros();
  // Unsigned subtraction stays correct across the ~71 minute micros() wrap.
  if ((uint32_t)(now - lastReadingUs) < periodUs) {
    return;
  }
  // Advance by exactly one period so loop() jitter does not add up to a
  // slower average rate...
  lastReadingUs += periodUs;
  // ...but after a long stall (a USB write held up by a slow host, an LED
  // change) start afresh instead of sending a burst to catch up: stale
  // readings sent back-to-back are of no use to anyone.
  if ((uint32_t)(now - lastReadingUs) >= periodUs) {
    lastReadingUs = now;
  }
  sendReading();
}

void onHostConnected() {
  hostConnected = true;
  // Forget any half-typed command from a previous session.
  commandLen = 0;
  discardingCommand = false;
  // Send the first reading straight away rather than one period later.
  lastReadingUs = micros() - periodUs;
}

// ---------------------------------------------------------------------------
// Arduino entry points
// ---------------------------------------------------------------------------

void setup() {
  Serial.begin(SERIAL_BAUD);
  // On the 32u4 the USB port exists from power-up, but nobody is listening
  // until the host opens it and raises DTR. Writing before that would only
  // fill the USB buffer and then stall in write timeouts.
  while (!Serial) {
  }
}

void loop() {
  // Serial.dtr() rather than !Serial here: Serial's bool operator sleeps
  // 10 ms on every call, which alone would eat the whole 100 Hz budget.
  if (!Serial.dtr()) {
    // The host closed the port. Stop sending (and stop counting n) until
    // it comes back, so that the only gaps in n are real losses.
    hostConnected = false;
    return;
  }
  if (!hostConnected) {
    onHostConnected();
  }

  pollCommands();
  maybeSendReading();
}

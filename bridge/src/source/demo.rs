//! The demo source: a simulated Esplora at 100 Hz, for trying the bridge
//! without a board. `--replay-rate HZ` runs it at another rate (the soak
//! test uses 1 kHz), `max` as fast as the pipeline takes lines.
//!
//! It moves like a person playing with one: the slider sweeps back and
//! forth, the accelerometer jitters around 1 g with the odd tilt, the
//! joystick is pushed now and then and springs back, the light drifts, the
//! microphone crackles, and a button is pressed every few seconds. Its lines
//! go through the same parser as a real board's, sequence numbers and
//! checksums included.

use std::time::Duration;

use bytes::Bytes;
use esplora_config::ReplayRate;
use esplora_parser::{Number, format_line};
use rand::Rng;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use super::SourceEvent;

/// The board's simulated clock: one tick a line, 100 lines a second as the
/// sketch sends them, whatever the rate the demo runs at.
const RATE_HZ: u64 = 100;

pub async fn run(tx: &mpsc::Sender<SourceEvent>, rate: Option<ReplayRate>) -> anyhow::Result<()> {
    let origin = "demo board".to_owned();
    if tx.send(SourceEvent::Connected { origin }).await.is_err() {
        return Ok(());
    }
    let mut board = Board::new(SmallRng::from_os_rng());
    let mut ticks = match rate.unwrap_or(ReplayRate::DEFAULT) {
        ReplayRate::Hz(hz) => {
            let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / hz));
            ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
            Some(ticks)
        }
        // The source queue's back-pressure is the only pace.
        ReplayRate::Max => None,
    };
    loop {
        if let Some(ticks) = &mut ticks {
            ticks.tick().await;
        }
        let line = Bytes::from(board.next_line());
        if tx.send(SourceEvent::Line(line)).await.is_err() {
            return Ok(());
        }
    }
}

/// The simulated board's state, advanced one tick (10 ms) per line. Public
/// for the history benchmark, which fills a store with a week of it.
pub struct Board {
    rng: SmallRng,
    tick: u64,
    seq: u16,
    tilt: (f64, f64),
    joystick: (f64, f64),
    /// Ticks left in the current button press, and which button.
    press: (u32, i64),
}

impl Board {
    /// A board whose noise is the same on every run with the same seed.
    pub fn seeded(seed: u64) -> Self {
        Board::new(SmallRng::seed_from_u64(seed))
    }

    fn new(rng: SmallRng) -> Self {
        Board {
            rng,
            tick: 0,
            seq: 0,
            tilt: (0.0, 0.0),
            joystick: (0.0, 0.0),
            press: (0, 0),
        }
    }

    /// The board's next line, 10 ms after the last.
    pub fn next_line(&mut self) -> String {
        let t = self.tick as f64 / RATE_HZ as f64;
        self.tick += 1;
        let rng = &mut self.rng;

        // A 20 s triangle sweep over the slider's 0..=1023.
        let phase = (t / 20.0).fract();
        let slider =
            (1023.0 * (1.0 - (2.0 * phase - 1.0).abs())).round() as i64 + rng.random_range(-1..=1);

        // Now and then the board is tilted; tilts relax back to level.
        if rng.random_bool(0.004) {
            self.tilt = (rng.random_range(-60.0..60.0), rng.random_range(-60.0..60.0));
        }
        self.tilt = (self.tilt.0 * 0.995, self.tilt.1 * 0.995);
        let accel_x = self.tilt.0.round() as i64 + rng.random_range(-3..=3);
        let accel_y = self.tilt.1.round() as i64 + rng.random_range(-3..=3);
        let accel_z = 125 + rng.random_range(-3..=3);

        // The joystick is pushed and springs back to its centre.
        if rng.random_bool(0.003) {
            self.joystick = (
                rng.random_range(-512.0..512.0),
                rng.random_range(-512.0..512.0),
            );
        }
        self.joystick = (self.joystick.0 * 0.97, self.joystick.1 * 0.97);
        let joystick = |v: f64| if v.abs() < 8.0 { 0 } else { v.round() as i64 };

        let light = (600.0 + 150.0 * (t / 45.0).sin()).round() as i64 + rng.random_range(-3..=3);
        let mic = if rng.random_bool(0.02) {
            rng.random_range(100..400)
        } else {
            rng.random_range(0..40)
        };
        // Whole degrees Celsius, as the sketch sends them: a warm room.
        let temperature = 23 + ((t / 120.0).sin() * 1.5).round() as i64;

        if self.press.0 == 0 && rng.random_bool(0.003) {
            self.press = (rng.random_range(15..60), 1 << rng.random_range(0..5));
        }
        let buttons = if self.press.0 > 0 {
            self.press.0 -= 1;
            self.press.1
        } else {
            0
        };

        let fields = [
            ("s", slider.clamp(0, 1023)),
            ("x", accel_x),
            ("y", accel_y),
            ("z", accel_z),
            ("j", joystick(self.joystick.0)),
            ("k", joystick(self.joystick.1)),
            ("l", light),
            ("m", mic),
            ("t", temperature),
            ("u", 0),
            ("b", buttons),
        ];
        let fields = fields.map(|(key, value)| (key, Number::Int(value)));
        let line = format_line(&fields, Some(self.seq), true);
        self.seq = self.seq.wrapping_add(1);
        line
    }
}

#[cfg(test)]
mod tests {
    use esplora_parser::parse_line;

    use super::*;

    #[test]
    fn the_demo_board_sends_valid_moving_lines() {
        let mut board = Board::new(SmallRng::seed_from_u64(7));
        let mut sliders = Vec::new();
        for expected_seq in 0..3000u16 {
            let line = board.next_line();
            let reading = parse_line(line.as_bytes()).unwrap();
            assert_eq!(reading.seq, Some(expected_seq));
            assert_eq!(reading.fields.len(), 11);
            let Number::Int(slider) = reading.fields[0].1 else {
                panic!("the slider is an integer: {line}");
            };
            sliders.push(slider);
        }
        let (min, max) = (sliders.iter().min().unwrap(), sliders.iter().max().unwrap());
        assert!(
            *min < 100 && *max > 500,
            "the slider should sweep, got {min}..{max}"
        );
    }
}

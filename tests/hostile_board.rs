//! A hostile or broken board on a real pseudo terminal: binary noise, a
//! 16 MB line with no newline, a flood far above 100 Hz, and a disconnect
//! mid-line. The daemon keeps running, its peak memory stays within a
//! stated bound, bad lines are counted by reason, and the next good line
//! is accepted.

use std::io::Write;
use std::time::Instant;

use crate::common::pty::{Board, Port};
use crate::common::{Daemon, memory_kb};
use rand::{Rng, SeedableRng};

/// What the whole attack may add to the daemon's peak resident memory.
/// The 16 MB line alone would be more if it were buffered.
const GROWTH_BOUND_KB: u64 = 8 * 1024;

/// Writes `bytes` to the board from a thread, as a real board would: the
/// pty holds only a few KB, so this waits on the daemon reading.
fn send_all(board: &Board, bytes: Vec<u8>) -> std::thread::JoinHandle<()> {
    let mut master = board.writer();
    std::thread::spawn(move || {
        for chunk in bytes.chunks(64 * 1024) {
            master
                .write_all(chunk)
                .expect("the daemon should read the pty");
        }
    })
}

#[tokio::test]
async fn noise_a_huge_line_a_flood_and_a_cut_leave_the_daemon_well() {
    let port = Port::new();
    let mut board = port.plug_in();
    let input = port.input();
    let daemon = Daemon::start(&["--input", &input, "--max-rate-hz", "0"]);
    board.send("partial\ns:1\n");
    daemon.wait_slider(1).await;
    let before = memory_kb(daemon.pid(), "VmHWM");
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);

    // Binary noise: 1 MB of random bytes, with a newline now and then.
    let noise: Vec<u8> = (0..1 << 20)
        .map(|_| {
            if rng.random_ratio(1, 200) {
                b'\n'
            } else {
                rng.random()
            }
        })
        .collect();
    send_all(&board, noise).join().unwrap();
    board.send("\ns:2\n");
    daemon.wait_slider(2).await;
    let noisy = daemon
        .metric("esplora_lines_rejected_total{reason=\"not_utf8\"}")
        .await;
    assert!(
        noisy > 1000,
        "random lines are not UTF-8: {noisy} rejected as such"
    );

    // 16 MB with no newline, then a good line.
    let started = Instant::now();
    send_all(&board, vec![b'7'; 16 << 20]).join().unwrap();
    board.send("\ns:3\n");
    daemon.wait_slider(3).await;
    println!("16 MB line read and dropped in {:?}", started.elapsed());
    assert!(
        daemon
            .metric("esplora_lines_rejected_total{reason=\"too_long\"}")
            .await
            >= 1,
        "the long line is counted"
    );

    // A flood: 200,000 good lines as fast as the pty takes them (the board
    // sends 100 a second).
    let flood: String = (0..200_000)
        .map(|i| format!("s:{},x:{}\n", 10 + i % 1000, i % 7))
        .collect();
    let accepted = daemon.metric("esplora_lines_accepted_total").await;
    let started = Instant::now();
    send_all(&board, flood.into_bytes()).join().unwrap();
    board.send("s:5000\n");
    daemon.wait_slider(5000).await;
    let took = started.elapsed();
    let flooded = daemon.metric("esplora_lines_accepted_total").await - accepted;
    println!(
        "flood: {flooded} lines in {took:?} ({:.0} lines/s)",
        flooded as f64 / took.as_secs_f64()
    );
    assert_eq!(flooded, 200_001, "every flooded line is accepted");

    // Cut mid-line, and a new board at the same path.
    board.send("s:6000,x:");
    board.unplug();
    let mut board = port.plug_in();
    board.send("s:7000\ns:7001\n");
    daemon.wait_slider(7001).await;

    assert_eq!(daemon.get_text("/healthz").await, "ok\n");
    let after = memory_kb(daemon.pid(), "VmHWM");
    println!("VmHWM {before} kB -> {after} kB across the attack");
    assert!(
        after.saturating_sub(before) < GROWTH_BOUND_KB,
        "peak memory grew by {} kB (bound {GROWTH_BOUND_KB} kB)",
        after - before
    );
    drop(board);
}

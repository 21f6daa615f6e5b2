//! The text syntax shared by the command line, the environment and the file:
//! `FromStr` and `Display` for `InputSpec`, `ReplayRate` and `LogFormat`.

use std::path::PathBuf;

use esplora_config::{InputSpec, LogFormat, ReplayRate};

#[test]
fn input_specs_round_trip() {
    let cases = [
        (
            "serial:/dev/ttyACM0@9600",
            InputSpec::Serial {
                path: "/dev/ttyACM0".into(),
                baud: 9600,
            },
        ),
        (
            "serial:/dev/esplora",
            InputSpec::Serial {
                path: "/dev/esplora".into(),
                baud: InputSpec::DEFAULT_BAUD,
            },
        ),
        ("file:x.log", InputSpec::File("x.log".into())),
        ("-", InputSpec::Stdin),
        ("demo", InputSpec::Demo),
        ("auto", InputSpec::Auto),
    ];
    for (text, spec) in cases {
        assert_eq!(text.parse::<InputSpec>(), Ok(spec.clone()), "{text}");
        assert_eq!(spec.to_string(), text);
    }
    assert_eq!(InputSpec::default(), InputSpec::Auto);
}

#[test]
fn serial_default_baud_is_implied() {
    let spec: InputSpec = "serial:/dev/ttyACM0@115200".parse().unwrap();
    assert_eq!(spec.to_string(), "serial:/dev/ttyACM0");
    assert_eq!(spec.to_string().parse::<InputSpec>(), Ok(spec));
}

#[test]
fn serial_path_with_an_at_sign_keeps_its_baud() {
    let spec = InputSpec::Serial {
        path: PathBuf::from("/dev/by-name/esplora@usb"),
        baud: InputSpec::DEFAULT_BAUD,
    };
    assert_eq!(spec.to_string(), "serial:/dev/by-name/esplora@usb@115200");
    assert_eq!(spec.to_string().parse::<InputSpec>(), Ok(spec));
}

#[test]
fn bad_input_specs_say_why() {
    for (text, says) in [
        ("floppy:x", "unknown input spec"),
        ("/dev/ttyACM0", "write \"serial:/dev/ttyACM0\""),
        ("serial:", "no device path"),
        ("serial:@9600", "no device path"),
        ("serial:/dev/x@", "baud rate \"\""),
        ("serial:/dev/x@0", "baud rate \"0\""),
        ("serial:/dev/x@+9600", "baud rate \"+9600\""),
        ("serial:/dev/x@99999999999", "baud rate"),
        ("file:", "no file path"),
        ("", "unknown input spec"),
        ("AUTO", "unknown input spec"),
    ] {
        let error = text.parse::<InputSpec>().unwrap_err().to_string();
        assert!(error.contains(says), "{text:?}: {error}");
    }
}

#[test]
fn replay_rates_round_trip() {
    for (text, rate) in [
        ("100", ReplayRate::Hz(100.0)),
        ("12.5", ReplayRate::Hz(12.5)),
        ("0.001", ReplayRate::Hz(0.001)),
        ("max", ReplayRate::Max),
    ] {
        assert_eq!(text.parse::<ReplayRate>(), Ok(rate), "{text}");
        assert_eq!(rate.to_string(), text);
    }
    assert_eq!(ReplayRate::DEFAULT.to_string(), "100");
}

#[test]
fn bad_replay_rates_are_refused() {
    for text in ["0", "-1", "0.0", "NaN", "inf", "fast", "MAX", ""] {
        let error = text.parse::<ReplayRate>().unwrap_err().to_string();
        assert!(error.contains("positive number"), "{text:?}: {error}");
    }
}

#[test]
fn log_formats_round_trip() {
    for (text, format) in [("text", LogFormat::Text), ("json", LogFormat::Json)] {
        assert_eq!(text.parse::<LogFormat>(), Ok(format));
        assert_eq!(format.to_string(), text);
    }
    assert!("yaml".parse::<LogFormat>().is_err());
}

//! Home Assistant MQTT discovery: one retained config per field, so that
//! the board shows up as a device with an entity per reading, without a
//! line of YAML.
//!
//! Each field is a `sensor` on `homeassistant/sensor/<node_id>/<field>/config`
//! that reads `<prefix>/state` through a `value_template`, with
//! `state_class: measurement` and the sink's availability topic. The
//! `buttons` bitmask becomes one `binary_sensor` per button (the bits of
//! `board-sketch/README.md`). With commands enabled, the LED is a `light`
//! (RGB, optimistic: the board does not report it) and a beep a `button`,
//! both sending to the command topics. Keys are Home Assistant's full names, not
//! its abbreviations: both are accepted, and these can be read. A field
//! whose name cannot be a topic level is left out.

use esplora_config::FieldConfig;
use serde_json::{Value, json};

use super::topics::{Topics, topic_level};

/// The field holding the button bitmask.
const BUTTONS: &str = "buttons";
/// Bit, object id, name.
const BUTTON_BITS: [(u32, &str, &str); 5] = [
    (0, "button_down", "Button down"),
    (1, "button_left", "Button left"),
    (2, "button_up", "Button up"),
    (3, "button_right", "Button right"),
    (4, "joystick_button", "Joystick button"),
];

/// Who the entities belong to.
pub struct Device {
    /// Home Assistant's node id: `esplora_bridge_<device>`.
    pub node_id: String,
    pub name: String,
}

fn device_block(device: &Device) -> Value {
    json!({
        "identifiers": [device.node_id],
        "name": device.name,
        "manufacturer": "Arduino",
        "model": "Esplora",
        "sw_version": concat!("esplora-bridge ", env!("CARGO_PKG_VERSION")),
    })
}

/// The discovery messages for the commands: the LED and a beep.
pub fn command_configs(device: &Device, topics: &Topics) -> Vec<(String, Value)> {
    let node = &device.node_id;
    vec![
        (
            format!("homeassistant/light/{node}/led/config"),
            json!({
                "name": "LED",
                "unique_id": format!("{node}_led"),
                "command_topic": topics.set_led,
                "payload_on": "[255,255,255]",
                "payload_off": "[0,0,0]",
                "rgb_command_topic": topics.set_led,
                "rgb_command_template": "[{{ red }},{{ green }},{{ blue }}]",
                "on_command_type": "first",
                "optimistic": true,
                "availability_topic": topics.availability,
                "device": device_block(device),
            }),
        ),
        (
            format!("homeassistant/button/{node}/beep/config"),
            json!({
                "name": "Beep",
                "unique_id": format!("{node}_beep"),
                "command_topic": topics.set_tone,
                "payload_press": "{\"hz\":880,\"ms\":200}",
                "availability_topic": topics.availability,
                "device": device_block(device),
            }),
        ),
    ]
}

/// The discovery messages (topic, retained JSON) for `field`, named and
/// with the unit of its description (`[fields."NAME"]` or built in), if
/// any.
pub fn configs(
    device: &Device,
    topics: &Topics,
    field: &str,
    described: Option<&FieldConfig>,
) -> Vec<(String, Value)> {
    if !topic_level(field) {
        return Vec::new();
    }
    let device_block = device_block(device);
    let common = |name: &str, object_id: &str, template: String| {
        json!({
            "name": name,
            "unique_id": format!("{}_{object_id}", device.node_id),
            "object_id": format!("{}_{object_id}", device.node_id),
            "state_topic": topics.state,
            "value_template": template,
            "availability_topic": topics.availability,
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": device_block,
        })
    };
    let value = format!("value_json['values'][{}]", json!(field));
    if field == BUTTONS {
        return BUTTON_BITS
            .iter()
            .map(|(bit, object_id, name)| {
                let mask = 1 << bit;
                let mut config = common(
                    name,
                    object_id,
                    format!("{{{{ 'ON' if ({value} | int(0)) // {mask} % 2 == 1 else 'OFF' }}}}"),
                );
                config["payload_on"] = json!("ON");
                config["payload_off"] = json!("OFF");
                (
                    format!(
                        "homeassistant/binary_sensor/{}/{object_id}/config",
                        device.node_id
                    ),
                    config,
                )
            })
            .collect();
    }
    let label = described
        .and_then(|described| described.label.as_deref())
        .unwrap_or(field);
    let mut config = common(label, field, format!("{{{{ {value} }}}}"));
    config["state_class"] = json!("measurement");
    if let Some(unit) = described.and_then(|described| described.unit.as_deref()) {
        config["unit_of_measurement"] = json!(unit);
    }
    vec![(
        format!("homeassistant/sensor/{}/{field}/config", device.node_id),
        config,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Device {
        Device {
            node_id: "esplora_bridge_kitchen".to_owned(),
            name: "Esplora (kitchen)".to_owned(),
        }
    }

    /// Home Assistant's MQTT sensor schema: the keys it requires, and the
    /// ones this config relies on.
    #[test]
    fn a_field_is_a_sensor_with_the_keys_home_assistant_needs() {
        let topics = Topics::new("esplora-bridge/kitchen");
        let configs = configs(&device(), &topics, "slider", None);
        assert_eq!(configs.len(), 1);
        let (topic, config) = &configs[0];
        assert_eq!(
            topic,
            "homeassistant/sensor/esplora_bridge_kitchen/slider/config"
        );
        assert_eq!(config["state_topic"], "esplora-bridge/kitchen/state");
        assert_eq!(
            config["value_template"],
            "{{ value_json['values'][\"slider\"] }}"
        );
        assert_eq!(config["unique_id"], "esplora_bridge_kitchen_slider");
        assert_eq!(config["state_class"], "measurement");
        assert!(config.get("unit_of_measurement").is_none());
        assert_eq!(
            config["availability_topic"],
            "esplora-bridge/kitchen/availability"
        );
        assert_eq!(config["device"]["identifiers"][0], "esplora_bridge_kitchen");
        for key in ["name", "model", "sw_version", "manufacturer"] {
            assert!(config["device"][key].is_string(), "device.{key}");
        }
    }

    #[test]
    fn the_button_bitmask_is_one_binary_sensor_per_button() {
        let topics = Topics::new("p");
        let configs = configs(&device(), &topics, "buttons", None);
        assert_eq!(configs.len(), 5);
        let (topic, config) = &configs[4];
        assert_eq!(
            topic,
            "homeassistant/binary_sensor/esplora_bridge_kitchen/joystick_button/config"
        );
        assert_eq!(
            config["value_template"],
            "{{ 'ON' if (value_json['values'][\"buttons\"] | int(0)) // 16 % 2 == 1 else 'OFF' }}"
        );
        assert!(config.get("state_class").is_none());
        assert!(super::configs(&device(), &topics, "a/b", None).is_empty());
    }

    #[test]
    fn a_described_field_has_its_label_and_unit() {
        let described = FieldConfig {
            label: Some("Temperature".to_owned()),
            unit: Some("°C".to_owned()),
            ..FieldConfig::default()
        };
        let configs = configs(&device(), &Topics::new("p"), "temp_C", Some(&described));
        assert_eq!(configs[0].1["name"], "Temperature");
        assert_eq!(configs[0].1["unit_of_measurement"], "°C");
        assert_eq!(configs[0].1["unique_id"], "esplora_bridge_kitchen_temp_C");
    }

    #[test]
    fn commands_are_a_light_and_a_button_sending_what_the_command_topics_take() {
        let topics = Topics::new("p");
        let configs = command_configs(&device(), &topics);
        let (light_topic, light) = &configs[0];
        assert_eq!(
            light_topic,
            "homeassistant/light/esplora_bridge_kitchen/led/config"
        );
        assert_eq!(light["rgb_command_topic"], "p/set/led");
        // What the template makes is what set/led accepts.
        let rendered = "[12,34,56]";
        assert!(
            super::super::commands::parse(super::super::commands::Kind::Led, rendered.as_bytes())
                .is_ok()
        );
        assert_eq!(
            light["rgb_command_template"],
            "[{{ red }},{{ green }},{{ blue }}]"
        );
        let (_, button) = &configs[1];
        let press = button["payload_press"].as_str().unwrap();
        assert!(
            super::super::commands::parse(super::super::commands::Kind::Tone, press.as_bytes())
                .is_ok()
        );
    }
}

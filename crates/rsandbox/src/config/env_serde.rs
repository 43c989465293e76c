//! Serde for the environment table of a profile: `NAME = "value"` sets a
//! variable, `NAME = false` removes one the box would inherit.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Value {
    Set(String),
    Flag(bool),
    Null(()),
}

pub(crate) fn serialize<S: Serializer>(
    env: &BTreeMap<String, Option<String>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(env.len()))?;
    for (k, v) in env {
        match v {
            Some(v) => m.serialize_entry(k, v)?,
            None => m.serialize_entry(k, &false)?,
        }
    }
    m.end()
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Option<String>>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = BTreeMap<String, Option<String>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a table of NAME = \"value\" (set) or NAME = false (removed)")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(k) = a.next_key::<String>()? {
                let v = match a.next_value::<Value>() {
                    Ok(Value::Set(s)) => Some(s),
                    Ok(Value::Flag(false)) | Ok(Value::Null(())) => None,
                    _ => {
                        return Err(de::Error::custom(format!(
                            "env.{k}: expected a string (set) or false (removed)"
                        )))
                    }
                };
                out.insert(k, v);
            }
            Ok(out)
        }
    }
    d.deserialize_map(V)
}

//! What the tool schemas promise, kept: the formats a client knows, and arguments checked
//! against the advertised input schema before a call runs.
//!
//! Every input object of every tool says `additionalProperties: false` (the params types deny
//! unknown fields). [`check_arguments`] holds calls to it, so a misplaced or misspelt argument is
//! a tool error naming it and listing the valid ones, where serde would either ignore it
//! silently or answer with a bare "unknown field".

use std::sync::Arc;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{JsonObject, Tool};
use serde_json::{Map, Value, json};

/// The input schema of a tool that takes no arguments: an object that admits none. (rmcp's
/// default leaves `additionalProperties` out, so anything would be accepted and ignored.)
pub fn no_arguments() -> Arc<JsonObject> {
    let Value::Object(schema) = json!({
        "type": "object",
        "properties": {},
        "additionalProperties": false,
    }) else {
        unreachable!("a JSON object literal")
    };
    Arc::new(schema)
}

/// The schema of a JSON object whose keys are free (a memory's context, a relationship's
/// properties): stated as an object rather than schemars' `true`, which many clients reject.
pub fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "object"})
}

/// Rewrites every tool's schemas into what clients know: schemars marks unsigned integers
/// with `format: "uint"`, `"uint32"` or `"uint64"`, formats no JSON Schema dialect defines
/// (strict validators reject them); the bound they mean is `minimum: 0`.
pub fn tidy<S>(router: &mut ToolRouter<S>) {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = Arc::new(tidied(&tool.input_schema));
        if let Some(output) = &tool.output_schema {
            tool.output_schema = Some(Arc::new(tidied(output)));
        }
    }
}

fn tidied(schema: &JsonObject) -> JsonObject {
    let mut value = Value::Object(schema.clone());
    unsigned_to_minimum(&mut value);
    match value {
        Value::Object(object) => object,
        _ => unreachable!("an object stays an object"),
    }
}

fn unsigned_to_minimum(value: &mut Value) {
    match value {
        Value::Object(object) => {
            let unsigned = object
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|format| format.starts_with("uint"));
            if unsigned {
                object.remove("format");
                object.entry("minimum").or_insert(json!(0));
            }
            object.values_mut().for_each(unsigned_to_minimum);
        }
        Value::Array(items) => items.iter_mut().for_each(unsigned_to_minimum),
        _ => {}
    }
}

/// Checks that `arguments` use only the names `tool`'s input schema declares, at every object
/// level that admits no others. The error says which argument, where, what is valid there,
/// and, when it can tell, what was meant.
pub fn check_arguments(tool: &Tool, arguments: &JsonObject) -> Result<(), String> {
    // Read in place: this runs on every call, and a schema is kilobytes.
    let root = tool.input_schema.as_ref();
    let walk = Walk {
        root,
        tool: &tool.name,
    };
    let properties = root.get("properties").and_then(Value::as_object);
    let closed = root.get("additionalProperties") == Some(&Value::Bool(false));
    walk.fields(properties, closed, arguments, "")
}

struct Walk<'a> {
    root: &'a JsonObject,
    tool: &'a str,
}

impl<'a> Walk<'a> {
    /// `schema` with its `$ref` followed (only local `#/$defs/...` references occur).
    fn resolve(&self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/")
                .and_then(|pointer| {
                    let (first, rest) = pointer.split_once('/').unwrap_or((pointer, ""));
                    let top = self.root.get(first)?;
                    match rest {
                        "" => Some(top),
                        rest => top.pointer(&format!("/{rest}")),
                    }
                })
                .unwrap_or(schema),
            None => schema,
        }
    }

    /// The alternatives of `schema` that describe objects (an `Option<T>` is `anyOf` of `T`
    /// and null), or the arrays' item schemas.
    fn alternatives(&self, schema: &'a Value) -> Vec<&'a Value> {
        let schema = self.resolve(schema);
        let mut found = vec![schema];
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(Value::Array(options)) = schema.get(key) {
                found.extend(options.iter().flat_map(|o| self.alternatives(o)));
            }
        }
        found
    }

    fn properties(&self, schema: &'a Value) -> Option<&'a Map<String, Value>> {
        self.alternatives(schema)
            .into_iter()
            .find_map(|s| s.get("properties").and_then(Value::as_object))
    }

    fn items(&self, schema: &'a Value) -> Option<&'a Value> {
        self.alternatives(schema)
            .into_iter()
            .find_map(|s| s.get("items"))
    }

    fn closed(&self, schema: &'a Value) -> bool {
        self.alternatives(schema)
            .into_iter()
            .any(|s| s.get("additionalProperties") == Some(&Value::Bool(false)))
    }

    fn object(&self, schema: &'a Value, value: &JsonObject, at: &str) -> Result<(), String> {
        self.fields(self.properties(schema), self.closed(schema), value, at)
    }

    /// Checks `value`'s keys against `properties` (all of them when `closed`), and each
    /// known field's value against its own schema.
    fn fields(
        &self,
        properties: Option<&'a Map<String, Value>>,
        closed: bool,
        value: &JsonObject,
        at: &str,
    ) -> Result<(), String> {
        let Some(properties) = properties else {
            return Ok(());
        };
        if closed && let Some(unknown) = value.keys().find(|k| !properties.contains_key(*k)) {
            return Err(self.unknown(unknown, properties, at));
        }
        for (key, inner) in value {
            if let Some(property) = properties.get(key) {
                let path = match at {
                    "" => key.clone(),
                    _ => format!("{at}.{key}"),
                };
                self.value(property, inner, &path)?;
            }
        }
        Ok(())
    }

    fn value(&self, schema: &'a Value, value: &Value, at: &str) -> Result<(), String> {
        match value {
            Value::Object(object) => self.object(schema, object, at),
            Value::Array(elements) => match self.items(schema) {
                Some(items) => elements
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, element)| self.value(items, element, &format!("{at}[{i}]"))),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    fn unknown(&self, name: &str, properties: &Map<String, Value>, at: &str) -> String {
        let valid: Vec<&str> = properties.keys().map(String::as_str).collect();
        let place = match at {
            "" => String::new(),
            _ => format!(" in {at}"),
        };
        let valid = match (valid.is_empty(), at) {
            (true, _) => "it takes no arguments".to_owned(),
            (false, "") => format!("valid arguments: {}", valid.join(", ")),
            (false, _) => format!("valid arguments there: {}", valid.join(", ")),
        };
        let mut message = format!(
            "unknown argument \"{name}\"{place} for {}; {valid}",
            self.tool
        );
        if let Some(hint) = self.hint(name, properties) {
            message.push_str(&format!(" ({hint})"));
        }
        message
    }

    /// What `name` probably meant: a field of one of the nested objects here (`project`
    /// belongs in `context`), or a valid name spelt a little differently (`kind` for `kinds`).
    fn hint(&self, name: &str, properties: &'a Map<String, Value>) -> Option<String> {
        for (key, property) in properties {
            let nested = self.properties(property).or_else(|| {
                self.items(property)
                    .and_then(|items| self.properties(items))
            });
            if nested.is_some_and(|nested| nested.contains_key(name)) {
                return Some(format!("{name} belongs in {key}"));
            }
        }
        properties
            .keys()
            .find(|key| similar(name, key))
            .map(|key| format!("did you mean \"{key}\"?"))
    }
}

/// Whether two names differ only by case, underscores, a plural `s` or one or two typing
/// slips.
fn similar(a: &str, b: &str) -> bool {
    let plain = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let (a, b) = (plain(a), plain(b));
    let slips = if a.len().min(b.len()) >= 5 { 2 } else { 1 };
    edit_distance(&a, &b) <= slips
}

/// Levenshtein distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(schema: Value) -> Tool {
        let Value::Object(schema) = schema else {
            panic!("an object")
        };
        Tool::new("t", "a tool", Arc::new(schema))
    }

    fn args(value: Value) -> JsonObject {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn unknown_arguments_are_named_with_the_valid_ones_and_a_hint() {
        let t = tool(json!({
            "type": "object", "additionalProperties": false,
            "properties": {
                "kinds": {"type": "array", "items": {"type": "string"}},
                "context": {"anyOf": [{"$ref": "#/$defs/C"}, {"type": "null"}]},
                "links": {"type": "array", "items": {"$ref": "#/$defs/L"}},
            },
            "$defs": {
                "C": {"type": "object", "properties": {"project": {}}},
                "L": {"type": "object", "additionalProperties": false,
                      "properties": {"target_id": {}}},
            },
        }));
        assert_eq!(
            check_arguments(&t, &args(json!({"kind": ["x"]}))).unwrap_err(),
            "unknown argument \"kind\" for t; valid arguments: context, kinds, links \
             (did you mean \"kinds\"?)"
        );
        let misplaced = check_arguments(&t, &args(json!({"project": "p"}))).unwrap_err();
        assert!(
            misplaced.ends_with("(project belongs in context)"),
            "{misplaced}"
        );
        let nested = check_arguments(&t, &args(json!({"links": [{"target_id": "a"}, {"x": 1}]})))
            .unwrap_err();
        assert_eq!(
            nested,
            "unknown argument \"x\" in links[1] for t; valid arguments there: target_id"
        );
        // An open object (no additionalProperties: false) takes any key.
        check_arguments(&t, &args(json!({"context": {"ticket": "A-1"}}))).unwrap();
    }

    #[test]
    fn unsigned_formats_become_a_minimum() {
        let mut value = json!({"a": {"type": "integer", "format": "uint64", "minimum": 0},
                               "b": {"type": "integer", "format": "uint"},
                               "c": {"type": "number", "format": "float"}});
        unsigned_to_minimum(&mut value);
        assert_eq!(
            value,
            json!({"a": {"type": "integer", "minimum": 0}, "b": {"type": "integer", "minimum": 0},
                   "c": {"type": "number", "format": "float"}})
        );
    }
}

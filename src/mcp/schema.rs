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

/// Rewrites every tool into what clients know and what is worth its tokens (`tools/list`
/// is read into every session's context):
/// - schemars marks numbers with `format: "float"`, `"double"`, `"int64"` or `"uint…"`,
///   formats no JSON Schema dialect defines (strict validators reject the unsigned ones); an
///   unsigned one means `minimum: 0`, the others say nothing a client checks;
/// - an optional field is typed as its value alone (`"string"`, not `["string", "null"]`):
///   leaving it out says the same, and null is still accepted;
/// - a string enum whose values schemars documents one by one (`oneOf` of `const`s) becomes a
///   plain `enum`: the field's own description says what the values mean;
/// - `$schema` goes: 2020-12 is MCP's default dialect; so do the descriptions of input
///   definitions (the property using one describes it);
/// - annotations lose their copy of the tool's title (the hints stay explicit);
/// - output schemas are kept only when `output_schemas` is set: they are half of the list
///   and teach a model nothing the text of a result does not (the structured content is
///   returned either way).
pub fn tidy<S>(router: &mut ToolRouter<S>, output_schemas: bool) {
    for route in router.map.values_mut() {
        let tool = &mut route.attr;
        tool.input_schema = Arc::new(tidied(&tool.input_schema, Side::Input));
        tool.output_schema = match &tool.output_schema {
            Some(output) if output_schemas => Some(Arc::new(tidied(output, Side::Output))),
            _ => None,
        };
        // The tool's own title is the one clients show; a copy in the annotations is noise.
        if let Some(annotations) = &mut tool.annotations
            && annotations.title == tool.title
        {
            annotations.title = None;
        }
    }
}

fn tidied(schema: &JsonObject, side: Side) -> JsonObject {
    let mut value = Value::Object(schema.clone());
    lean(&mut value, side);
    match value {
        Value::Object(mut object) => {
            object.remove("$schema");
            // A definition is reached through a property that says what it is for; its own
            // description (the Rust type's doc) would say it a second time.
            if side == Side::Input
                && let Some(Value::Object(defs)) = object.get_mut("$defs")
            {
                for def in defs.values_mut().filter_map(Value::as_object_mut) {
                    def.remove("description");
                }
            }
            object
        }
        _ => unreachable!("an object stays an object"),
    }
}

/// Which side of a call a schema describes: what a client may leave out of its arguments,
/// a result states as null.
#[derive(Clone, Copy, PartialEq)]
enum Side {
    Input,
    Output,
}

/// The rewrites of [`tidy`] inside one schema, at every level.
fn lean(value: &mut Value, side: Side) {
    match value {
        Value::Object(object) => {
            if let Some(format) = object.get("format").and_then(Value::as_str) {
                let unsigned = format.starts_with("uint");
                if unsigned || NUMBER_FORMATS.contains(&format) {
                    object.remove("format");
                }
                if unsigned {
                    object.entry("minimum").or_insert(json!(0));
                }
            }
            match side {
                Side::Input => {
                    optional_to_plain(object);
                    optional_ref_to_ref(object);
                    nullable_to_branches(object);
                }
                Side::Output => nullable_to_branches(object),
            }
            constants_to_enum(object);
            object.values_mut().for_each(|v| lean(v, side));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| lean(v, side)),
        _ => {}
    }
}

/// `type: [T, "null"]` of an optional argument becomes `type: T`.
fn optional_to_plain(object: &mut Map<String, Value>) {
    if let Some(Value::Array(types)) = object.get("type")
        && types.len() == 2
        && let Some(one) = types.iter().find(|t| *t != "null")
        && types.iter().any(|t| t == "null")
    {
        let one = one.clone();
        object.insert("type".into(), one);
    }
}

/// `type: [T, U, …]` (a result field that may be null, a free value of several types)
/// becomes `anyOf` with one `type` per branch: a client mapping schemas onto a
/// single-`type` dialect can read it.
fn nullable_to_branches(object: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = object.get("type") else {
        return;
    };
    if types.len() < 2 {
        return;
    }
    let types = types.clone();
    object.remove("type");
    // Bounds and formats belong to their type's branch, not to null.
    let mut branches: Vec<Value> = types
        .into_iter()
        .map(|t| {
            let mut branch = Map::new();
            if t != "null" {
                for key in ["format", "minimum", "maximum", "items", "enum"] {
                    if let Some(v) = object.remove(key) {
                        branch.insert(key.into(), v);
                    }
                }
            }
            branch.insert("type".into(), t);
            Value::Object(branch)
        })
        .collect();
    branches.sort_by_key(|b| b["type"] == "null");
    object.insert("anyOf".into(), Value::Array(branches));
}

/// Number formats schemars writes that no JSON Schema dialect defines.
const NUMBER_FORMATS: &[&str] = &["float", "double", "int8", "int16", "int32", "int64"];

/// `anyOf: [{$ref}, {type: null}]` (an optional struct or enum) becomes the `$ref` alone.
fn optional_ref_to_ref(object: &mut Map<String, Value>) {
    let Some(Value::Array(options)) = object.get("anyOf") else {
        return;
    };
    let null = json!({"type": "null"});
    let reference = match options.as_slice() {
        [one, other] | [other, one] if *other == null && one.get("$ref").is_some() => one.clone(),
        _ => return,
    };
    object.remove("anyOf");
    if let Value::Object(reference) = reference {
        object.extend(reference);
    }
}

/// `oneOf` of string `const`s, each with its description, becomes `enum` of the strings.
fn constants_to_enum(object: &mut Map<String, Value>) {
    let Some(Value::Array(options)) = object.get("oneOf") else {
        return;
    };
    let constants: Option<Vec<Value>> = options
        .iter()
        .map(|o| o.get("const").filter(|c| c.is_string()).cloned())
        .collect();
    if let Some(constants) = constants {
        object.remove("oneOf");
        object.insert("type".into(), json!("string"));
        object.insert("enum".into(), Value::Array(constants));
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
    fn schemas_lose_what_clients_do_not_need() {
        let value = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": {"M": {"description": "the Rust type's doc", "type": "object"}},
            "properties": {
                "a": {"type": "integer", "format": "uint64", "minimum": 1},
                "b": {"type": ["integer", "null"], "format": "uint"},
                "c": {"type": "number", "format": "float"},
                "d": {"type": "string", "format": "date-time"},
                "e": {"anyOf": [{"$ref": "#/$defs/M"}, {"type": "null"}], "description": "m"},
                "f": {"oneOf": [{"const": "x", "description": "the x"}, {"const": "y"}]},
            },
        });
        let Value::Object(object) = &value else {
            unreachable!()
        };
        let input = Value::Object(tidied(object, Side::Input));
        assert_eq!(
            input,
            json!({"$defs": {"M": {"type": "object"}}, "properties": {
                "a": {"type": "integer", "minimum": 1},
                "b": {"type": "integer", "minimum": 0},
                "c": {"type": "number"},
                "d": {"type": "string", "format": "date-time"},
                "e": {"$ref": "#/$defs/M", "description": "m"},
                "f": {"type": "string", "enum": ["x", "y"]},
            }})
        );
        // A result states what is missing as null: that stays, one type per branch.
        let output = Value::Object(tidied(object, Side::Output));
        assert_eq!(
            output["properties"]["b"],
            json!({"anyOf": [{"type": "integer", "minimum": 0}, {"type": "null"}]})
        );
        assert_eq!(
            output["properties"]["e"],
            json!({"anyOf": [{"$ref": "#/$defs/M"}, {"type": "null"}], "description": "m"})
        );
    }
}

//! Checking tool output against the JSON Schema the server publishes for it.

use serde_json::{Map, Value};

/// Checks `value` against a JSON Schema as schemars writes them: `type`, `properties`,
/// `required`, `items`, `additionalProperties`, `enum`/`const`, `anyOf`/`oneOf` and local
/// `$ref`s. Returns the first mismatch as a path and a reason.
pub fn validate(value: &Value, schema: &Map<String, Value>) -> Result<(), String> {
    let defs = schema
        .get("$defs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    check(value, &Value::Object(schema.clone()), &defs, "$")
}

fn check(value: &Value, schema: &Value, defs: &Map<String, Value>, at: &str) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        // `true` accepts anything.
        return Ok(());
    };
    if let Some(Value::String(r)) = schema.get("$ref") {
        let name = r.trim_start_matches("#/$defs/");
        let target = defs.get(name).ok_or(format!("{at}: unknown $ref {r}"))?;
        return check(value, target, defs, at);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(options)) = schema.get(key)
            && !options.iter().any(|o| check(value, o, defs, at).is_ok())
        {
            return Err(format!("{at}: {value} matches none of {key}"));
        }
    }
    if let Some(c) = schema.get("const")
        && c != value
    {
        return Err(format!("{at}: {value} is not {c}"));
    }
    if let Some(Value::Array(options)) = schema.get("enum")
        && !options.contains(value)
    {
        return Err(format!("{at}: {value} not in enum"));
    }
    if let Some(ty) = schema.get("type") {
        let types: Vec<&str> = match ty {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => return Err(format!("{at}: bad type {ty}")),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !fits {
            return Err(format!("{at}: {actual} is not {types:?}"));
        }
    }
    if let Value::Object(object) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        if let Some(Value::Array(required)) = schema.get("required") {
            for key in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(key) {
                    return Err(format!("{at}: missing required {key}"));
                }
            }
        }
        for (key, v) in object {
            match properties.and_then(|p| p.get(key)) {
                Some(s) => check(v, s, defs, &format!("{at}.{key}"))?,
                None => match schema.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        return Err(format!("{at}: unexpected property {key}"));
                    }
                    Some(s @ Value::Object(_)) => check(v, s, defs, &format!("{at}.{key}"))?,
                    _ if properties.is_some() && schema.get("additionalProperties").is_none() => {
                        // schemars lists every property a struct writes: an unknown key
                        // means the schema and the output disagree.
                        return Err(format!("{at}: property {key} is not in the schema"));
                    }
                    _ => {}
                },
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            check(item, item_schema, defs, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

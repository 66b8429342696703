//! [`Filter`] → SQL. Only fixed SQL text is written; every user value is a bound parameter.

use libsql::Value;

use super::rows::{micros, placeholders};
use crate::model::Filter;

/// Whether the memory `m` has the tag bound to `?`, compared whole, as stored.
const HAS_TAG: &str = "EXISTS (SELECT 1 FROM json_each(m.tags) WHERE value = ?)";

/// A WHERE fragment over `memories m` and the values it binds, in order.
#[derive(Default)]
pub(super) struct Clause {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Clause {
    /// Appends `AND <sql>` binding `params`.
    pub fn and(&mut self, sql: &str, params: impl IntoIterator<Item = Value>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(sql);
        self.params.extend(params);
    }

    /// The clause for `filter` (empty SQL when it filters nothing).
    pub fn from_filter(filter: &Filter) -> Self {
        let mut c = Clause::default();
        if !filter.kinds.is_empty() {
            c.and(
                &format!("m.kind IN ({})", placeholders(filter.kinds.len())),
                filter.kinds.iter().map(|k| Value::from(k.clone())),
            );
        }
        for tag in &filter.tags {
            // `instr` on the row's JSON text is a cheap first test that spares `json_each`
            // the rows that cannot match. It is exact only for a tag that appears verbatim
            // in that text: tags are written by serde_json, which escapes quotes,
            // backslashes and control characters and nothing else.
            if tag
                .chars()
                .any(|ch| ch == '"' || ch == '\\' || ch.is_control())
            {
                c.and(HAS_TAG, [Value::from(tag.clone())]);
            } else {
                c.and(
                    &format!("instr(m.tags, ?) > 0 AND {HAS_TAG}"),
                    [Value::from(tag.clone()), Value::from(tag.clone())],
                );
            }
        }
        if let Some(project) = &filter.project {
            c.and("m.project = ?", [Value::from(project.clone())]);
        }
        if let Some(since) = filter.since {
            c.and("m.created_at >= ?", [Value::from(micros(since))]);
        }
        if let Some(min) = filter.min_importance {
            c.and("m.importance >= ?", [Value::from(f64::from(min))]);
        }
        c
    }
}

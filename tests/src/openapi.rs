//! The desk API's contract, `docs/desk-api.yaml`: every response a test receives is checked
//! against the schema the document gives for its route and status (OpenAPI 3.1 schemas are
//! JSON Schema 2020-12), and a status the document does not list fails the test.

use serde_json::Value;

/// The parsed OpenAPI document.
pub struct DeskApiSpec {
    doc: Value,
}

impl DeskApiSpec {
    /// Reads `docs/desk-api.yaml`.
    pub fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/desk-api.yaml");
        let text = std::fs::read_to_string(path).expect("docs/desk-api.yaml");
        let doc: Value = serde_norway::from_str(&text).expect("desk-api.yaml is YAML");
        DeskApiSpec { doc }
    }

    /// Resolves a local `$ref` (`#/components/...`).
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let pointer = r.trim_start_matches('#');
                self.doc
                    .pointer(pointer)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"))
            }
            None => v,
        }
    }

    /// The problems of `body` as the answer `status` of `method template` (e.g. `GET
    /// /conversations/{key}`); empty when it conforms.
    pub fn problems(&self, method: &str, template: &str, status: u16, body: &Value) -> Vec<String> {
        let op = &self.doc["paths"][template][method.to_ascii_lowercase()];
        if op.is_null() {
            return vec![format!("{method} {template} is not documented")];
        }
        let response = &op["responses"][status.to_string()];
        if response.is_null() {
            return vec![format!(
                "{method} {template} answered {status}, a status the document does not list"
            )];
        }
        let response = self.resolve(response);
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return if body.is_null() {
                Vec::new()
            } else {
                vec![format!(
                    "{method} {template} {status}: documented without a body"
                )]
            };
        };
        let mut root = schema.clone();
        if let Value::Object(map) = &mut root {
            map.insert("components".into(), self.doc["components"].clone());
        }
        let validator = match jsonschema::draft202012::new(&root) {
            Ok(v) => v,
            Err(e) => return vec![format!("{method} {template} {status}: bad schema: {e}")],
        };
        validator
            .iter_errors(body)
            .map(|e| format!("{method} {template} {status}: {e} at {}", e.instance_path()))
            .collect()
    }

    /// Panics unless `body` conforms.
    #[track_caller]
    pub fn check(&self, method: &str, template: &str, status: u16, body: &Value) {
        let problems = self.problems(method, template, status, body);
        assert!(
            problems.is_empty(),
            "{}\nbody: {body:#}",
            problems.join("\n")
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_document_refuses_what_it_does_not_describe() {
        let spec = DeskApiSpec::load();
        let me = json!({"agent_id": "a", "role": "agent", "profile": null});
        assert!(spec.problems("GET", "/me", 200, &me).is_empty());
        // A wrong role, an extra field, an undocumented status or route: each fails.
        let wrong = json!({"agent_id": "a", "role": "boss", "profile": null});
        assert!(!spec.problems("GET", "/me", 200, &wrong).is_empty());
        let extra = json!({"agent_id": "a", "role": "agent", "profile": null, "x": 1});
        assert!(!spec.problems("GET", "/me", 200, &extra).is_empty());
        assert!(!spec.problems("GET", "/me", 418, &me).is_empty());
        assert!(!spec.problems("GET", "/nowhere", 200, &me).is_empty());
        let invalid = json!({"error": "invalid_request", "message": "m"});
        assert!(
            !spec
                .problems("GET", "/conversations", 400, &invalid)
                .is_empty(),
            "a 400 names its field"
        );
    }
}

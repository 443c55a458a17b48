//! Application and component variables, resolved the way Spin resolves them: a component
//! variable is a literal or a `{{ app_variable }}` template; an application variable's value
//! comes from the environment (`SPIN_VARIABLE_<NAME>`, or `<NAME>` as Railway-style
//! configuration) or its default.

use std::collections::BTreeMap;

use super::VariableDecl;

/// Why a variable could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VariableError {
    /// Not of the form `[a-z][a-z0-9_]*`.
    #[error(
        "{0:?} is not a valid variable name (lower-case letters, digits and '_', starting with a letter)"
    )]
    InvalidName(String),
    /// The component has no such variable.
    #[error("variable {0:?} is not defined for this component")]
    Undefined(String),
    /// A required application variable has no value.
    #[error("application variable {0:?} is required but not set (set SPIN_VARIABLE_{1})")]
    Missing(String, String),
}

/// Checks a variable name.
pub fn check_name(name: &str) -> Result<(), VariableError> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(VariableError::InvalidName(name.to_string()))
    }
}

/// The application variables a template names, in order.
fn template_refs(template: &str) -> Result<Vec<&str>, String> {
    let mut refs = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unclosed '{{{{' in {template:?}"))?;
        refs.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    Ok(refs)
}

/// Checks that every `{{ name }}` in `template` is a declared application variable.
pub fn check_template(
    template: &str,
    declared: &BTreeMap<String, VariableDecl>,
) -> Result<(), String> {
    for name in template_refs(template)? {
        if !declared.contains_key(name) {
            return Err(format!(
                "template refers to {name:?}, which is not declared in [variables]"
            ));
        }
    }
    Ok(())
}

/// `template` with each `{{ name }}` replaced by the application variable's value: from
/// `SPIN_VARIABLE_<NAME>` or `<NAME>` in `env`, else its default. An unterminated `{{` is
/// `Undefined("")`.
pub fn resolve_template(
    template: &str,
    app: &BTreeMap<String, VariableDecl>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<String, VariableError> {
    let app_value = |name: &str| -> Result<String, VariableError> {
        let upper = name.to_ascii_uppercase();
        if let Some(v) = env(&format!("SPIN_VARIABLE_{upper}")).or_else(|| env(&upper)) {
            return Ok(v);
        }
        match app.get(name) {
            Some(decl) => match &decl.default {
                Some(d) if !decl.required => Ok(d.clone()),
                _ => Err(VariableError::Missing(name.to_string(), upper)),
            },
            None => Err(VariableError::Undefined(name.to_string())),
        }
    };
    let mut value = String::new();
    let mut rest = template;
    loop {
        let Some(start) = rest.find("{{") else {
            value.push_str(rest);
            return Ok(value);
        };
        value.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| VariableError::Undefined(String::new()))?;
        value.push_str(&app_value(after[..end].trim())?);
        rest = &after[end + 2..];
    }
}

/// One component's variables, resolved at load.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    values: BTreeMap<String, Result<String, VariableError>>,
}

impl Variables {
    /// Resolves `component` variables against `app` declarations and the environment.
    pub fn resolve(
        component: &BTreeMap<String, String>,
        app: &BTreeMap<String, VariableDecl>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Variables {
        let values = component
            .iter()
            .map(|(name, template)| {
                let value = resolve_template(template, app, &env).map_err(|e| match e {
                    // An unterminated `{{` names the variable it spoils.
                    VariableError::Undefined(t) if t.is_empty() => {
                        VariableError::Undefined(name.clone())
                    }
                    other => other,
                });
                (name.clone(), value)
            })
            .collect();
        Variables { values }
    }

    /// Every variable with its value; the first that has none is the error.
    pub fn all(&self) -> Result<Vec<(String, String)>, VariableError> {
        self.values
            .iter()
            .map(|(name, value)| value.clone().map(|v| (name.clone(), v)))
            .collect()
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Result<String, VariableError> {
        check_name(name)?;
        match self.values.get(name) {
            Some(v) => v.clone(),
            None => Err(VariableError::Undefined(name.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl {
            default: default.map(String::from),
            required,
            secret: false,
        }
    }

    #[test]
    fn resolves_templates_defaults_and_environment() {
        let app = BTreeMap::from([
            ("token".to_string(), decl(Some("dflt"), false)),
            ("limit".to_string(), decl(Some("5"), false)),
            ("needed".to_string(), decl(None, true)),
        ]);
        let component = BTreeMap::from([
            ("token".to_string(), "{{ token }}".to_string()),
            ("label".to_string(), "max={{limit}}!".to_string()),
            ("literal".to_string(), "plain".to_string()),
            ("needs".to_string(), "{{ needed }}".to_string()),
        ]);
        let env = |k: &str| (k == "SPIN_VARIABLE_TOKEN").then(|| "from-env".to_string());
        let vars = Variables::resolve(&component, &app, env);
        assert_eq!(vars.get("token"), Ok("from-env".to_string()));
        assert_eq!(vars.get("label"), Ok("max=5!".to_string()));
        assert_eq!(vars.get("literal"), Ok("plain".to_string()));
        assert!(matches!(vars.get("needs"), Err(VariableError::Missing(..))));
        assert!(matches!(vars.get("nope"), Err(VariableError::Undefined(_))));
        assert!(matches!(
            vars.get("Bad-Name"),
            Err(VariableError::InvalidName(_))
        ));
    }
}

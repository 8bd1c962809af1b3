//! Enums whose values travel as fixed strings (states, codes, architectures, kinds).
//!
//! [`wire_enum!`] writes each value's string once, in the enum's definition; serde,
//! the OpenAPI schema, parsing, `Display` and the lists in error messages and in
//! capabilities are all derived from it, so no other file spells those strings.

macro_rules! wire_enum {
    (
        $(#[$doc:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vdoc:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vdoc])* $variant ),+
        }

        // Not every enum uses every helper.
        #[allow(dead_code)]
        impl $name {
            /// Every value, in the order of the definition.
            $vis const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The value as it is written on the wire.
            $vis const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// Every wire string, in the order of the definition.
            $vis fn names() -> Vec<&'static str> {
                Self::ALL.iter().map(|v| v.as_str()).collect()
            }

            /// The value a wire string stands for.
            $vis fn from_wire(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }

            /// `a, b or c`: the accepted strings, for error messages.
            $vis fn expected() -> String {
                $crate::domain::names::one_of(&Self::names())
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(text: &str) -> Result<Self, String> {
                Self::from_wire(text).ok_or_else(|| format!("must be {}", Self::expected()))
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::from_wire(&text).ok_or_else(|| {
                    serde::de::Error::custom(format!("must be {}", Self::expected()))
                })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(Self::names()))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

pub(crate) use wire_enum;

/// `a`, `a or b`, `a, b or c`.
pub(crate) fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    wire_enum! {
        enum Colour {
            Red = "red",
            DarkBlue = "dark-blue",
        }
    }

    #[test]
    fn one_string_per_value_in_every_direction() {
        assert_eq!(Colour::DarkBlue.as_str(), "dark-blue");
        assert_eq!(Colour::DarkBlue.to_string(), "dark-blue");
        assert_eq!(Colour::from_wire("red"), Some(Colour::Red));
        assert_eq!(Colour::from_wire("Red"), None);
        assert_eq!(
            "blue".parse::<Colour>().unwrap_err(),
            "must be red or dark-blue"
        );
        assert_eq!(serde_json::to_string(&Colour::Red).unwrap(), "\"red\"");
        let parsed: Colour = serde_json::from_str("\"dark-blue\"").unwrap();
        assert_eq!(parsed, Colour::DarkBlue);
        assert!(serde_json::from_str::<Colour>("\"green\"").is_err());
    }

    #[test]
    fn lists_read_as_english() {
        assert_eq!(one_of(&["a"]), "a");
        assert_eq!(one_of(&["a", "b"]), "a or b");
        assert_eq!(one_of(&["a", "b", "c"]), "a, b or c");
    }
}

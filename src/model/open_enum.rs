//! The shape shared by every string enum the server sends.
//!
//! Such an enum lists the values known today and keeps any other value in
//! `Unknown(String)`, so a value added by the server parses, round-trips
//! through serde with its original text, and never breaks a user.

/// Defines an open string enum: the known variants with their wire text,
/// a last `Unknown(String)` variant, `as_str`, an infallible `FromStr`,
/// `Display`, `From<&str>`/`From<String>`, serde through the text, and
/// equality/hashing by the text (so `Unknown("x")` equals the variant whose
/// text is `"x"`).
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[doc = $doc:literal])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[doc = $doc])* #[doc = concat!("`", $text, "`")] $variant, )+
            /// A value this version of the crate does not know, kept as sent.
            Unknown(String),
        }

        impl $name {
            /// Every variant this version of the crate knows, in table order.
            pub const KNOWN: &'static [$name] = &[$($name::$variant),+];

            /// The value as the server writes it; for `Unknown`, the original
            /// text.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $text, )+
                    $name::Unknown(s) => s.as_str(),
                }
            }

            /// The known variant for `s`, if there is one.
            fn known(s: &str) -> Option<Self> {
                match s {
                    $( $text => Some($name::$variant), )+
                    _ => None,
                }
            }

            /// Whether this is a value the crate does not know.
            pub fn is_unknown(&self) -> bool {
                matches!(self, $name::Unknown(s) if Self::known(s).is_none())
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::convert::Infallible;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Ok(Self::from(s))
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self::known(s).unwrap_or_else(|| $name::Unknown(s.to_owned()))
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self::known(&s).unwrap_or($name::Unknown(s))
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.as_str() == other.as_str()
            }
        }

        impl Eq for $name {}

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.as_str().hash(state)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct TextVisitor;
                impl serde::de::Visitor<'_> for TextVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a string (", stringify!($name), ")"))
                    }
                    fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<$name, E> {
                        Ok($name::from(s))
                    }
                    fn visit_string<E: serde::de::Error>(self, s: String) -> Result<$name, E> {
                        Ok($name::from(s))
                    }
                }
                deserializer.deserialize_str(TextVisitor)
            }
        }

        impl $crate::model::tolerant::Scalar for $name {
            const EXPECTED: &'static str = "a string";
            fn parse(
                json: $crate::model::tolerant::Json<'_>,
                _: &serde_json::value::RawValue,
            ) -> $crate::model::tolerant::Parsed<Self> {
                $crate::model::tolerant::from_text(json, false, |s| Some($name::from(s)))
            }
        }

        $crate::model::tolerant::tolerant_scalar!($name);
    };
}

pub(crate) use open_enum;

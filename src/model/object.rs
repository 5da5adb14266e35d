//! The shape shared by every object the server sends.
//!
//! An API object has the fields this crate models, with the API's own names,
//! and keeps every other field in `extra`, so nothing the server sends is
//! lost. `null` reads as the field's default (`None`, `false`, empty), so a
//! field the server blanks out does not fail the whole object.
//!
//! The objects are read in one pass over the input: known fields straight
//! into their types, the others into `extra` as raw JSON text, read only
//! when asked for. (A derived `Deserialize` with
//! `#[serde(flatten)]` would buffer the whole object first.)

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

/// A string (a field name, an ID…), borrowed from the input where it can
/// be, so that reading it allocates nothing.
pub(crate) struct Text<'de>(pub(crate) Cow<'de, str>);

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(s)))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(s)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// Defines an API object: a struct with `required` fields (an object
/// without them, or with one unreadable, is not this object), `optional`
/// fields (missing or `null` ones take their default), a `pub extra` map
/// with every other field, the [`ModelWarning`](crate::ModelWarning)s of its
/// fields, and serde implementations that read and write the API's field
/// names.
///
/// A field's API name is the field's own, unless given after it
/// (`kind: Option<OperationType> = "type",`).
///
/// Every field is read through [`Tolerant`](super::tolerant::Tolerant): a
/// value that does not fit its type leaves the field empty, is kept raw in
/// `extra` and is listed in the warnings, so only a missing or unreadable
/// required field fails the object. `Debug` is left to the caller (derive
/// it, or write one that hides secrets).
macro_rules! api_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident ($expected:literal) {
            required {
                $( $(#[doc = $rdoc:literal])* $rfield:ident : $rty:ty $(= $rjson:literal)?, )*
            }
            optional {
                $( $(#[doc = $odoc:literal])* $ofield:ident : $oty:ty $(= $ojson:literal)?, )*
            }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[doc = $rdoc])* #[doc = concat!("\n\nAPI field `", $crate::model::object::api_key!($rfield $($rjson)?), "`.")] pub $rfield: $rty, )*
            $( $(#[doc = $odoc])* #[doc = concat!("\n\nAPI field `", $crate::model::object::api_key!($ofield $($ojson)?), "`.")] pub $ofield: $oty, )*
            /// Every field this crate does not model, and every modelled
            /// field whose value did not fit its type, as the server sent it.
            pub extra: $crate::model::Extra,
            /// The fields whose value did not fit their type, here and in
            /// the objects inside.
            pub warnings: Vec<$crate::model::ModelWarning>,
        }

        impl $name {
            /// The object with the required fields given and every other
            /// field empty.
            #[allow(dead_code)]
            pub(crate) fn with_required($($rfield: $rty),*) -> Self {
                $name {
                    $( $rfield, )*
                    $( $ofield: Default::default(), )*
                    extra: $crate::model::Extra::new(),
                    warnings: Vec::new(),
                }
            }
        }

        impl $crate::model::tolerant::ApiObject for $name {
            const EXPECTED: &'static str = $expected;

            fn warnings(&self) -> &[$crate::model::ModelWarning] {
                &self.warnings
            }

            fn visit_object<'de, A: serde::de::MapAccess<'de>>(
                mut __map: A,
            ) -> Result<Result<Self, Box<serde_json::value::RawValue>>, A::Error> {
                use $crate::model::tolerant::{next_value, Read, Tolerant};
                use $crate::model::ModelWarning;
                $( let mut $rfield: Option<$rty> = None; )*
                $( let mut $ofield: $oty = Default::default(); )*
                let mut __extra = $crate::model::Extra::new();
                let mut __warnings: Vec<ModelWarning> = Vec::new();
                while let Some(__key) = __map.next_key::<$crate::model::object::Text<'de>>()? {
                    match &*__key.0 {
                        $( $crate::model::object::api_key!($rfield $($rjson)?) => match next_value::<$rty, A>(&mut __map)? {
                            Read::Typed(value, inner) => {
                                $rfield = Some(value);
                                __warnings.extend(inner.into_iter().map(|w| w.under($crate::model::object::api_key!($rfield $($rjson)?))));
                            }
                            Read::Mismatch(raw) => {
                                $rfield = None;
                                __warnings.push(ModelWarning::new($crate::model::object::api_key!($rfield $($rjson)?), <$rty as Tolerant>::EXPECTED, raw.clone()));
                                __extra.push_raw(__key.0.into_owned(), raw);
                            }
                        }, )*
                        $( $crate::model::object::api_key!($ofield $($ojson)?) => match next_value::<$oty, A>(&mut __map)? {
                            Read::Typed(value, inner) => {
                                $ofield = value;
                                __warnings.extend(inner.into_iter().map(|w| w.under($crate::model::object::api_key!($ofield $($ojson)?))));
                            }
                            Read::Mismatch(raw) => {
                                $ofield = Default::default();
                                __warnings.push(ModelWarning::new($crate::model::object::api_key!($ofield $($ojson)?), <$oty as Tolerant>::EXPECTED, raw.clone()));
                                __extra.push_raw(__key.0.into_owned(), raw);
                            }
                        }, )*
                        _ => {
                            let raw: Box<serde_json::value::RawValue> = __map.next_value()?;
                            __extra.push_raw(__key.0.into_owned(), raw);
                        }
                    }
                }
                #[allow(unreachable_patterns)]
                match ($($rfield,)*) {
                    ($(Some($rfield),)*) => Ok(Ok($name {
                        $( $rfield, )*
                        $( $ofield, )*
                        extra: __extra,
                        warnings: __warnings,
                    })),
                    ($($rfield,)*) => {
                        // Not this object: written back whole, for the
                        // object it is in to keep.
                        let mut __out = serde_json::Map::new();
                        $( if let Some(value) = &$rfield {
                            if let Ok(value) = serde_json::to_value(value) {
                                __out.insert($crate::model::object::api_key!($rfield $($rjson)?).to_owned(), value);
                            }
                        } )*
                        $( if let Ok(value) = serde_json::to_value(&$ofield) {
                            __out.insert($crate::model::object::api_key!($ofield $($ojson)?).to_owned(), value);
                        } )*
                        for (key, value) in __extra.iter() {
                            __out.insert(key.to_owned(), value.clone());
                        }
                        serde_json::value::to_raw_value(&__out)
                            .map(Err)
                            .map_err(<A::Error as serde::de::Error>::custom)
                    }
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str($expected)
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<$name, A::Error> {
                        <$name as $crate::model::tolerant::ApiObject>::visit_object(map)?.map_err(|_| {
                            <A::Error as serde::de::Error>::custom(concat!(
                                "not ", $expected, ": a required field (",
                                $( "`", $crate::model::object::api_key!($rfield $($rjson)?), "` ", )*
                                ") is missing or unreadable"
                            ))
                        })
                    }
                }
                deserializer.deserialize_map(ObjectVisitor)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(None)?;
                $( map.serialize_entry($crate::model::object::api_key!($rfield $($rjson)?), &self.$rfield)?; )*
                $( if !self.extra.contains_key($crate::model::object::api_key!($ofield $($ojson)?)) {
                    map.serialize_entry($crate::model::object::api_key!($ofield $($ojson)?), &self.$ofield)?;
                } )*
                $crate::model::extra::serialize_fields(&self.extra, &mut map)?;
                map.end()
            }
        }
    };
}

pub(crate) use api_object;

/// The API's name of a field of [`api_object!`]: the one given, else the
/// field's own.
macro_rules! api_key {
    ($field:ident) => {
        stringify!($field)
    };
    ($field:ident $json:literal) => {
        $json
    };
}

pub(crate) use api_key;

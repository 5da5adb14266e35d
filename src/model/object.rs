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

/// A value where `null` reads as `T::default()`.
pub(crate) struct OrDefault<T>(pub(crate) T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for OrDefault<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(OrDefault(
            Option::<T>::deserialize(deserializer)?.unwrap_or_default(),
        ))
    }
}

/// Defines an API object: a struct with `required` fields (missing ones
/// fail the object), `optional` fields (missing or `null` ones take their
/// default), a `pub extra` map with every other field, and serde
/// implementations that read and write the API's field names.
macro_rules! api_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            required {
                $( $(#[doc = $rdoc:literal])* $rfield:ident : $rty:ty = $rjson:literal, )*
            }
            optional {
                $( $(#[doc = $odoc:literal])* $ofield:ident : $oty:ty = $ojson:literal, )*
            }
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq)]
        #[non_exhaustive]
        pub struct $name {
            $( $(#[doc = $rdoc])* #[doc = concat!("\n\nAPI field `", $rjson, "`.")] pub $rfield: $rty, )*
            $( $(#[doc = $odoc])* #[doc = concat!("\n\nAPI field `", $ojson, "`.")] pub $ofield: $oty, )*
            /// Every field this crate does not model, as the server sent it.
            pub extra: $crate::model::Extra,
        }

        impl $name {
            #[doc = concat!("A `", stringify!($name), "` with the required fields given and every other")]
            /// field empty: for tests and for building one by hand.
            pub fn new($($rfield: $rty),*) -> Self {
                $name {
                    $( $rfield, )*
                    $( $ofield: Default::default(), )*
                    extra: $crate::model::Extra::new(),
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;
                impl<'de> serde::de::Visitor<'de> for ObjectVisitor {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str(concat!("a ", stringify!($name), " object"))
                    }
                    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut __map: A) -> Result<$name, A::Error> {
                        $( let mut $rfield: Option<$rty> = None; )*
                        $( let mut $ofield: $oty = Default::default(); )*
                        let mut __extra = $crate::model::Extra::new();
                        while let Some(__key) = __map.next_key::<$crate::model::object::Text<'de>>()? {
                            match &*__key.0 {
                                $( $rjson => $rfield = Some(__map.next_value()?), )*
                                $( $ojson => $ofield = __map.next_value::<$crate::model::object::OrDefault<$oty>>()?.0, )*
                                _ => {
                                    let raw: Box<serde_json::value::RawValue> = __map.next_value()?;
                                    __extra.push_raw(__key.0.into_owned(), raw);
                                }
                            }
                        }
                        Ok($name {
                            $( $rfield: $rfield.ok_or_else(|| <A::Error as serde::de::Error>::missing_field($rjson))?, )*
                            $( $ofield, )*
                            extra: __extra,
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
                $( map.serialize_entry($rjson, &self.$rfield)?; )*
                $( map.serialize_entry($ojson, &self.$ofield)?; )*
                $crate::model::extra::serialize_fields(&self.extra, &mut map)?;
                map.end()
            }
        }
    };
}

pub(crate) use api_object;

//! Reading a field whatever the server put in it.
//!
//! Each field of an API object is read through [`Tolerant`]: a value that
//! fits its type is typed, any other value comes back raw
//! ([`Read::Mismatch`]) for the object to keep in `extra` and list as a
//! [`ModelWarning`]. Nothing a field holds can fail the object.
//!
//! Scalars (strings, IDs, dates, amounts…) are read as raw JSON text first,
//! then typed from it, so that a number keeps its exact text. Objects and
//! lists are read in place, without a second pass over their bytes: only a
//! value of the wrong shape is written back into raw JSON.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::warning::ModelWarning;

/// A field's value, read.
pub(crate) enum Read<T> {
    /// It fits: the value, and the warnings found inside it (paths relative
    /// to it; an empty path is the value itself).
    Typed(T, Vec<ModelWarning>),
    /// It does not fit: the value as sent.
    Mismatch(Box<RawValue>),
}

/// A type a field can be read into without failing.
pub(crate) trait Tolerant: Sized {
    /// What the field should hold, for warnings: "an amount".
    const EXPECTED: &'static str;

    /// Reads the value; fails only when the input is not JSON.
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Read<Self>, D::Error>;
}

/// Reads the next value of `map` as `T`.
pub(crate) fn next_value<'de, T: Tolerant, A: MapAccess<'de>>(
    map: &mut A,
) -> Result<Read<T>, A::Error> {
    map.next_value_seed(Seed::<T>(PhantomData))
}

struct Seed<T>(PhantomData<fn() -> T>);

impl<'de, T: Tolerant> DeserializeSeed<'de> for Seed<T> {
    type Value = Read<T>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Read<T>, D::Error> {
        T::read(deserializer)
    }
}

/// A scalar JSON value, looked at from its raw text.
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    /// A string, unescaped.
    Str(Cow<'a, str>),
    /// A number, as written.
    Number(&'a str),
    /// An object or an array.
    Other,
}

impl<'a> Json<'a> {
    pub(crate) fn of(raw: &'a RawValue) -> Json<'a> {
        let text = raw.get().trim();
        match text.as_bytes().first() {
            Some(b'n') => Json::Null,
            Some(b't') => Json::Bool(true),
            Some(b'f') => Json::Bool(false),
            Some(b'"') => match text.get(1..text.len() - 1) {
                Some(inner) if !inner.contains('\\') => Json::Str(Cow::Borrowed(inner)),
                _ => serde_json::from_str::<String>(text)
                    .map_or(Json::Other, |s| Json::Str(Cow::Owned(s))),
            },
            Some(b'{' | b'[') | None => Json::Other,
            Some(_) => Json::Number(text),
        }
    }
}

/// What a scalar made of a JSON value.
pub(crate) enum Parsed<T> {
    /// A value of the type.
    Value(T),
    /// Nothing: `null`, or what the type counts as empty (`""` for an ID or
    /// an amount).
    Absent,
    /// Something else.
    Mismatch,
}

/// A value read from a JSON string with `read`: `null` (and `""` when
/// `empty_is_absent`) is absent, any other kind of value a mismatch.
pub(crate) fn from_text<T>(
    json: Json<'_>,
    empty_is_absent: bool,
    read: impl FnOnce(&str) -> Option<T>,
) -> Parsed<T> {
    match json {
        Json::Str(s) if empty_is_absent && s.is_empty() => Parsed::Absent,
        Json::Str(s) => read(&s).map_or(Parsed::Mismatch, Parsed::Value),
        Json::Null => Parsed::Absent,
        _ => Parsed::Mismatch,
    }
}

/// A type read from one JSON scalar (or, for the few that are read whole,
/// from the raw text of any value).
pub(crate) trait Scalar: Sized {
    /// What the field should hold, for warnings.
    const EXPECTED: &'static str;
    /// Reads `json`, whose raw text is `raw`.
    fn parse(json: Json<'_>, raw: &RawValue) -> Parsed<Self>;
    /// The value of a field that is absent but not optional: `None` makes
    /// the field a mismatch.
    fn absent() -> Option<Self> {
        None
    }
    /// Whether a value that parsed is still worth a warning (a date whose
    /// instant cannot be read).
    fn doubtful(&self) -> bool {
        false
    }
}

/// Reads a scalar; an absent value is `None` when `optional`, else the
/// type's [`Scalar::absent`] value or a mismatch.
#[doc(hidden)]
pub(crate) fn read_scalar<'de, T: Scalar, D: Deserializer<'de>>(
    deserializer: D,
    optional: bool,
) -> Result<Read<Option<T>>, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    Ok(match T::parse(Json::of(&raw), &raw) {
        Parsed::Value(value) if value.doubtful() => {
            Read::Typed(Some(value), vec![ModelWarning::new("", T::EXPECTED, raw)])
        }
        Parsed::Value(value) => Read::Typed(Some(value), Vec::new()),
        Parsed::Absent if optional => Read::Typed(None, Vec::new()),
        Parsed::Absent => match T::absent() {
            Some(value) => Read::Typed(Some(value), Vec::new()),
            None => Read::Mismatch(raw),
        },
        Parsed::Mismatch => Read::Mismatch(raw),
    })
}

/// Implements [`Tolerant`] for scalars `T` and `Option<T>`.
macro_rules! tolerant_scalar {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::model::tolerant::Tolerant for $ty {
            const EXPECTED: &'static str = <$ty as $crate::model::tolerant::Scalar>::EXPECTED;
            fn read<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$crate::model::tolerant::Read<Self>, D::Error> {
                use $crate::model::tolerant::Read;
                Ok(match $crate::model::tolerant::read_scalar::<$ty, D>(deserializer, false)? {
                    Read::Typed(Some(value), warnings) => Read::Typed(value, warnings),
                    Read::Typed(None, _) => Read::Mismatch(serde_json::value::RawValue::NULL.to_owned()),
                    Read::Mismatch(raw) => Read::Mismatch(raw),
                })
            }
        }

        impl $crate::model::tolerant::Tolerant for Option<$ty> {
            const EXPECTED: &'static str = <$ty as $crate::model::tolerant::Scalar>::EXPECTED;
            fn read<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$crate::model::tolerant::Read<Self>, D::Error> {
                $crate::model::tolerant::read_scalar::<$ty, D>(deserializer, true)
            }
        }
    )*};
}
pub(crate) use tolerant_scalar;

impl Scalar for String {
    const EXPECTED: &'static str = "a string";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        match json {
            Json::Str(s) => Parsed::Value(s.into_owned()),
            Json::Null => Parsed::Absent,
            _ => Parsed::Mismatch,
        }
    }
}

impl Scalar for bool {
    const EXPECTED: &'static str = "true or false";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        match json {
            Json::Bool(b) => Parsed::Value(b),
            Json::Null => Parsed::Absent,
            _ => Parsed::Mismatch,
        }
    }
    fn absent() -> Option<Self> {
        Some(false)
    }
}

impl Scalar for u64 {
    const EXPECTED: &'static str = "a whole number";
    fn parse(json: Json<'_>, _: &RawValue) -> Parsed<Self> {
        match json {
            Json::Number(n) => n.parse().map_or(Parsed::Mismatch, Parsed::Value),
            Json::Str(s) if s.trim().is_empty() => Parsed::Absent,
            Json::Str(s) => s.trim().parse().map_or(Parsed::Mismatch, Parsed::Value),
            Json::Null => Parsed::Absent,
            _ => Parsed::Mismatch,
        }
    }
}

impl Scalar for Vec<serde_json::Value> {
    const EXPECTED: &'static str = "a list";
    fn parse(json: Json<'_>, raw: &RawValue) -> Parsed<Self> {
        match json {
            Json::Null => Parsed::Absent,
            Json::Other => serde_json::from_str(raw.get()).map_or(Parsed::Mismatch, Parsed::Value),
            _ => Parsed::Mismatch,
        }
    }
    fn absent() -> Option<Self> {
        Some(Vec::new())
    }
}

tolerant_scalar!(String, bool, u64, Vec<serde_json::Value>);

/// The shape of a value read in place: `null`, what the reader made of an
/// object or a list, or any other value, as raw JSON.
pub(crate) enum Found<T> {
    Null,
    Value(T),
    Other(Box<RawValue>),
}

/// Reads objects or lists in place; any other shape comes back raw.
pub(crate) trait ShapeVisitor: Sized {
    type Value;
    fn map<'de, A: MapAccess<'de>>(self, map: A) -> Result<Found<Self::Value>, A::Error> {
        rebuild_map(map).map(Found::Other)
    }
    fn seq<'de, A: SeqAccess<'de>>(self, seq: A) -> Result<Found<Self::Value>, A::Error> {
        rebuild_seq(seq).map(Found::Other)
    }
}

/// Reads one value with `visitor`: in place, or, on a document's second
/// read (see [`read_document`]), captured whole first.
pub(crate) fn read_shape<'de, V: ShapeVisitor, D: Deserializer<'de>>(
    deserializer: D,
    visitor: V,
) -> Result<Found<V::Value>, D::Error> {
    if !CAPTURE_FIRST.get() {
        return deserializer.deserialize_any(ShapeVisit(visitor));
    }
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    match raw.get().trim_start().as_bytes().first() {
        Some(b'{' | b'[') => {
            let mut inner = serde_json::Deserializer::from_str(raw.get());
            inner
                .deserialize_any(ShapeVisit(visitor))
                .map_err(serde::de::Error::custom)
        }
        Some(b'n') => Ok(Found::Null),
        _ => Ok(Found::Other(raw)),
    }
}

thread_local! {
    /// Whether the document being read on this thread is read the second
    /// time, every object and list captured whole before it is read.
    static CAPTURE_FIRST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets [`CAPTURE_FIRST`] for as long as it lives (a panic included).
struct CaptureFirst(bool);

impl CaptureFirst {
    fn start() -> Self {
        CaptureFirst(CAPTURE_FIRST.replace(true))
    }
}

impl Drop for CaptureFirst {
    fn drop(&mut self) {
        CAPTURE_FIRST.set(self.0);
    }
}

/// Reads a JSON document with `read` (a `serde_json` read of a type made
/// of tolerant fields), and once more if that fails on its syntax or
/// data, with every object and list captured as raw JSON before it is
/// read.
///
/// Why: `serde_json` reads a number as it meets it, and fails on one
/// beyond the range of `f64` (`1e400`) when the reader asks for any value,
/// which is how an object or a list is read in place. Captured raw
/// first, the number is a value of the wrong type like any other: kept
/// exactly as sent, with its warning. The first read stays the fast one,
/// and the only one for every document without such a number; a
/// document that is not JSON fails both, with the first read's error.
pub(crate) fn read_document<T>(read: impl Fn() -> serde_json::Result<T>) -> serde_json::Result<T> {
    match read() {
        Err(error) if error.is_syntax() || error.is_data() => {
            let _second = CaptureFirst::start();
            read().map_err(|_| error)
        }
        result => result,
    }
}

struct ShapeVisit<V>(V);

fn raw<E: serde::de::Error>(text: String) -> Result<Box<RawValue>, E> {
    RawValue::from_string(text).map_err(E::custom)
}

fn raw_of<T: serde::Serialize + ?Sized, E: serde::de::Error>(
    value: &T,
) -> Result<Box<RawValue>, E> {
    serde_json::value::to_raw_value(value).map_err(E::custom)
}

impl<'de, V: ShapeVisitor> Visitor<'de> for ShapeVisit<V> {
    type Value = Found<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Found::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Found::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        raw(v.to_string()).map(Found::Other)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        raw(v.to_string()).map(Found::Other)
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        raw(v.to_string()).map(Found::Other)
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        raw_of(&v).map(Found::Other)
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        raw_of(v).map(Found::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.0.map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.0.seq(seq)
    }
}

/// Writes the rest of an object back into raw JSON.
pub(crate) fn rebuild_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<Box<RawValue>, A::Error> {
    let mut text = String::from("{");
    while let Some(key) = map.next_key::<Cow<'de, str>>()? {
        let value: Box<RawValue> = map.next_value()?;
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(raw_of::<_, A::Error>(&*key)?.get());
        text.push(':');
        text.push_str(value.get());
    }
    text.push('}');
    raw(text)
}

/// Writes the rest of a list back into raw JSON.
pub(crate) fn rebuild_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<Box<RawValue>, A::Error> {
    let mut text = String::from("[");
    while let Some(value) = seq.next_element::<Box<RawValue>>()? {
        if text.len() > 1 {
            text.push(',');
        }
        text.push_str(value.get());
    }
    text.push(']');
    raw(text)
}

/// An API object read in place (see `api_object!`): `Ok` when it has its
/// required fields, else the object written back as raw JSON.
pub(crate) trait ApiObject: Sized {
    const EXPECTED: &'static str;
    fn visit_object<'de, A: MapAccess<'de>>(
        map: A,
    ) -> Result<Result<Self, Box<RawValue>>, A::Error>;
    /// The warnings found inside the object.
    fn warnings(&self) -> &[ModelWarning];
}

struct ObjectShape<T>(PhantomData<fn() -> T>);

impl<T: ApiObject> ShapeVisitor for ObjectShape<T> {
    type Value = Result<T, Box<RawValue>>;
    fn map<'de, A: MapAccess<'de>>(self, map: A) -> Result<Found<Self::Value>, A::Error> {
        T::visit_object(map).map(Found::Value)
    }
}

/// Reads an object: `None` for `null`.
pub(crate) fn read_object<'de, T: ApiObject, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Read<Option<T>>, D::Error> {
    Ok(
        match read_shape(deserializer, ObjectShape::<T>(PhantomData))? {
            Found::Null => Read::Typed(None, Vec::new()),
            Found::Value(Ok(object)) => {
                let warnings = object.warnings().to_vec();
                Read::Typed(Some(object), warnings)
            }
            Found::Value(Err(raw)) | Found::Other(raw) => Read::Mismatch(raw),
        },
    )
}

struct ListShape<T>(PhantomData<fn() -> T>);

impl<T: ApiObject> ShapeVisitor for ListShape<T> {
    type Value = (Vec<T>, Vec<ModelWarning>);
    fn seq<'de, A: SeqAccess<'de>>(self, mut seq: A) -> Result<Found<Self::Value>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        let mut warnings = Vec::new();
        let mut index = 0usize;
        while let Some(read) = seq.next_element_seed(ObjectSeed::<T>(PhantomData))? {
            let at = format!("[{index}]");
            match read {
                Read::Typed(Some(item), inner) => {
                    warnings.extend(inner.into_iter().map(|w| w.under(&at)));
                    items.push(item);
                }
                Read::Typed(None, _) => {
                    let null = RawValue::NULL.to_owned();
                    warnings.push(ModelWarning::new(at, T::EXPECTED, null));
                }
                Read::Mismatch(raw) => warnings.push(ModelWarning::new(at, T::EXPECTED, raw)),
            }
            index += 1;
        }
        Ok(Found::Value((items, warnings)))
    }
}

struct ObjectSeed<T>(PhantomData<fn() -> T>);

impl<'de, T: ApiObject> DeserializeSeed<'de> for ObjectSeed<T> {
    type Value = Read<Option<T>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        read_object(d)
    }
}

/// Reads a list of objects: items of another shape are left out, each with
/// a warning; `null` is an empty list.
pub(crate) fn read_list<'de, T: ApiObject, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Read<Vec<T>>, D::Error> {
    Ok(
        match read_shape(deserializer, ListShape::<T>(PhantomData))? {
            Found::Null => Read::Typed(Vec::new(), Vec::new()),
            Found::Value((items, warnings)) => Read::Typed(items, warnings),
            Found::Other(raw) => Read::Mismatch(raw),
        },
    )
}

/// Implements [`Tolerant`] for an API object `T`, `Option<T>` and `Vec<T>`.
macro_rules! tolerant_object {
    (default $ty:ty) => {
        $crate::model::tolerant::tolerant_object!($ty);

        impl $crate::model::tolerant::Tolerant for $ty {
            const EXPECTED: &'static str = <$ty as $crate::model::tolerant::ApiObject>::EXPECTED;
            fn read<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$crate::model::tolerant::Read<Self>, D::Error> {
                use $crate::model::tolerant::Read;
                Ok(match $crate::model::tolerant::read_object(deserializer)? {
                    Read::Typed(value, warnings) => {
                        Read::Typed(value.unwrap_or_default(), warnings)
                    }
                    Read::Mismatch(raw) => Read::Mismatch(raw),
                })
            }
        }
    };
    ($ty:ty) => {
        impl $crate::model::tolerant::Tolerant for Option<$ty> {
            const EXPECTED: &'static str = <$ty as $crate::model::tolerant::ApiObject>::EXPECTED;
            fn read<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$crate::model::tolerant::Read<Self>, D::Error> {
                $crate::model::tolerant::read_object(deserializer)
            }
        }

        impl $crate::model::tolerant::Tolerant for Vec<$ty> {
            const EXPECTED: &'static str = "a list";
            fn read<'de, D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<$crate::model::tolerant::Read<Self>, D::Error> {
                $crate::model::tolerant::read_list(deserializer)
            }
        }
    };
}
pub(crate) use tolerant_object;

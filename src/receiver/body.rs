//! Reading a delivery's body within the size limit: the part of body
//! reading that does not depend on a framework.

use bytes::{Bytes, BytesMut};

use super::report::Outcome;

/// Why an adapter could not read a delivery's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is longer than the limit (413).
    TooLarge,
    /// The client sent the body too slowly (408).
    TimedOut,
    /// The connection failed while the body was read (400).
    Failed,
}

impl BodyError {
    /// The outcome the delivery gets.
    pub fn outcome(self) -> Outcome {
        match self {
            BodyError::TooLarge => Outcome::PayloadTooLarge,
            BodyError::TimedOut => Outcome::BodyTimeout,
            BodyError::Failed => Outcome::InvalidPayload,
        }
    }
}

/// `the body is over the size limit`, `the body was sent too slowly` or
/// `the connection failed while the body was read`.
impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BodyError::TooLarge => "the body is over the size limit",
            BodyError::TimedOut => "the body was sent too slowly",
            BodyError::Failed => "the connection failed while the body was read",
        })
    }
}

impl std::error::Error for BodyError {}

/// Gathers a body's chunks, refusing it as soon as it passes the limit.
///
/// A body that arrives in one chunk is kept as is, without a copy.
/// Only the adapters read bodies in chunks.
#[cfg_attr(not(any(feature = "tower", feature = "actix")), allow(dead_code))]
#[derive(Debug)]
pub(crate) struct BodyCollector {
    limit: usize,
    first: Option<Bytes>,
    rest: BytesMut,
}

#[cfg_attr(not(any(feature = "tower", feature = "actix")), allow(dead_code))]
impl BodyCollector {
    /// A collector accepting at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        BodyCollector {
            limit,
            first: None,
            rest: BytesMut::new(),
        }
    }

    fn len(&self) -> usize {
        self.first.as_ref().map_or(0, Bytes::len) + self.rest.len()
    }

    /// Adds a chunk.
    ///
    /// # Errors
    ///
    /// [`BodyError::TooLarge`] once the body passes the limit; nothing past
    /// the limit is kept.
    pub(crate) fn push(&mut self, chunk: Bytes) -> Result<(), BodyError> {
        if self.len() + chunk.len() > self.limit {
            return Err(BodyError::TooLarge);
        }
        match &self.first {
            None if self.rest.is_empty() => self.first = Some(chunk),
            _ => {
                if let Some(first) = self.first.take() {
                    self.rest.extend_from_slice(&first);
                }
                self.rest.extend_from_slice(&chunk);
            }
        }
        Ok(())
    }

    /// The whole body.
    pub(crate) fn finish(self) -> Bytes {
        match self.first {
            Some(first) => first,
            None => self.rest.freeze(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_single_chunk_without_copying_and_joins_several() {
        let mut one = BodyCollector::new(10);
        let chunk = Bytes::from_static(b"hello");
        let ptr = chunk.as_ptr();
        one.push(chunk).unwrap();
        let body = one.finish();
        assert_eq!(body.as_ptr(), ptr);

        let mut many = BodyCollector::new(10);
        for part in ["he", "ll", "o"] {
            many.push(Bytes::from(part)).unwrap();
        }
        assert_eq!(&many.finish()[..], b"hello");
    }

    #[test]
    fn is_an_error_saying_what_failed() {
        fn assert_error<E: std::error::Error + Send + Sync + 'static>() {}
        assert_error::<BodyError>();
        assert_eq!(
            BodyError::TimedOut.to_string(),
            "the body was sent too slowly"
        );
    }

    #[test]
    fn refuses_past_the_limit() {
        let mut c = BodyCollector::new(4);
        c.push(Bytes::from_static(b"abcd")).unwrap();
        assert_eq!(c.push(Bytes::from_static(b"e")), Err(BodyError::TooLarge));
        let mut c = BodyCollector::new(4);
        assert_eq!(
            c.push(Bytes::from_static(b"abcde")),
            Err(BodyError::TooLarge)
        );
        assert_eq!(BodyCollector::new(0).finish().len(), 0);
    }
}

//! Vector helpers for semantic search: exact cosine similarity, libSQL's `F32_BLOB` encoding,
//! and [`QuantizedIndex`], an in-memory int8 copy of the stored vectors.
//!
//! The division of labour: libSQL holds the vectors (the source of truth, synced between
//! devices); the backend keeps a `QuantizedIndex` in step with its writes, asks it for a few
//! dozen candidates per query, loads those candidates' exact vectors and re-ranks them with
//! [`cosine`]. The index is a cache: it can always be rebuilt from the database.

mod kernel;
mod quantized;
mod slots;
mod threads;

#[cfg(test)]
mod bench;
#[cfg(test)]
mod test_rng;

pub use quantized::QuantizedIndex;

/// Exact cosine similarity of two equal-length f32 slices (0.0 if either is zero).
///
/// Accumulates in f64, so the result is exact to f32 precision whatever the magnitudes; this is
/// the measure candidates are re-ranked by. Slices of different lengths also give 0.0 (they
/// cannot be compared); a NaN element gives NaN.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 || bb == 0.0 {
        return 0.0;
    }
    (dot / (aa.sqrt() * bb.sqrt())).clamp(-1.0, 1.0) as f32
}

/// libSQL F32_BLOB encoding: little-endian f32s, 4 bytes each.
pub fn to_blob(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Inverse of to_blob; None when the length is not a multiple of 4.
pub fn from_blob(bytes: &[u8]) -> Option<Vec<f32>> {
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_round_trip() {
        let v = [
            0.0,
            -0.0,
            1.0,
            -2.5,
            f32::MIN_POSITIVE,
            f32::MAX,
            f32::MIN,
            1e-40,
            std::f32::consts::PI,
        ];
        let blob = to_blob(&v);
        assert_eq!(blob.len(), v.len() * 4);
        // Little-endian, as libSQL stores F32_BLOB: 1.0 is 0x3F800000.
        assert_eq!(&blob[8..12], &[0x00, 0x00, 0x80, 0x3F]);
        let back = from_blob(&blob).unwrap();
        assert_eq!(
            back.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            v.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(from_blob(&[]), Some(vec![]));
        assert!(to_blob(&[]).is_empty());
        for bad in 1..4 {
            assert_eq!(from_blob(&blob[..blob.len() - bad]), None);
        }
    }

    #[test]
    fn cosine_of_known_vectors() {
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), 1.0);
        assert_eq!(cosine(&[1.0, 2.0, 3.0], &[-1.0, -2.0, -3.0]), -1.0);
        // 45 degrees.
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-7);
        // (1,2,3)·(4,5,6) = 32; |a| = √14, |b| = √77.
        let want = 32.0 / (14f64.sqrt() * 77f64.sqrt());
        assert!((f64::from(cosine(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0])) - want).abs() < 1e-7);
        // Zero vectors, mismatched lengths.
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
        assert_eq!(cosine(&[1.0, 1.0], &[0.0, 0.0]), 0.0);
        assert_eq!(cosine(&[], &[]), 0.0);
        assert_eq!(cosine(&[1.0], &[1.0, 0.0]), 0.0);
        // Magnitudes that would overflow or underflow an f32 accumulator.
        assert_eq!(cosine(&[f32::MAX, f32::MAX], &[1.0, 1.0]), 1.0);
        assert_eq!(cosine(&[1e-30, 0.0], &[1e-30, 0.0]), 1.0);
        assert!(cosine(&[f32::NAN, 1.0], &[1.0, 1.0]).is_nan());
    }
}

//! Messages a pipeline can use: keys, generated fields, headers, seeded runs,
//! checked by consuming what the feeder sent to the mock cluster.

/// Java's `org.apache.kafka.common.utils.Utils.murmur2`, the hash behind the
/// Java client's default partitioner (and librdkafka's `murmur2_random`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = SEED ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for `key`: `toPositive(murmur2(key)) % n`.
pub fn java_partition(key: &[u8], partitions: i32) -> i32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

#[test]
fn murmur2_matches_javas_known_values() {
    // Kafka's own UtilsTest.testMurmur2, and Akka's Murmur2Spec (checked against Kafka's).
    let cases: &[(&[u8], i32)] = &[
        (b"21", -973_932_308),
        (b"foobar", -790_332_482),
        (b"a-little-bit-long-string", -985_981_536),
        (b"a-little-bit-longer-string", -1_486_304_829),
        (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
        (b"abc", 479_470_107),
        (b"1", -1_993_445_489),
        (b"12", 126_087_238),
        (b"123", -267_702_483),
        (b"1234", -1_614_185_708),
        (b"12345", -1_188_365_604),
    ];
    for (key, want) in cases {
        assert_eq!(murmur2(key), *want, "{}", String::from_utf8_lossy(key));
    }
    assert_eq!(java_partition(b"foobar", 6), (-790_332_482i32 & 0x7fff_ffff) % 6);
}

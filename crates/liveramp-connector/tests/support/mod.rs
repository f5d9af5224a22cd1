//! The connector tests' own oracle (the workspace-wide fixtures are in `liveramp-test-support`).
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

use liveramp_identity_mapping::{MappedMember, Mapper, MappingConfig, Profile};

/// What the files must hold for these members: (device rows, PII rows), in member order,
/// computed by the mapping crate directly.
pub fn expected_rows(
    config: &MappingConfig,
    lines: &[String],
) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let mapper = Mapper::new(config).unwrap();
    let mut device = vec![mapper.device_headers().to_vec()];
    let mut pii = vec![mapper.pii_headers().to_vec()];
    let mut member = MappedMember::new();
    for line in lines {
        let Ok(profile) = Profile::from_json_line(line) else {
            continue;
        };
        mapper.map_into(&profile, &mut member);
        for row in member.device_rows() {
            device.push(row.fields().iter().map(|s| (*s).to_owned()).collect());
        }
        if let Some(row) = member.pii_row() {
            pii.push(row.to_vec());
        }
    }
    (device, pii)
}

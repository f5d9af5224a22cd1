//! File and segment names.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate};

use crate::error::{Error, IdField, Result};

/// LiveRamp's limit on the length of a file name, in characters.
pub const MAX_NAME_CHARS: usize = 250;

/// The characters LiveRamp forbids in file names besides spaces and non-ASCII characters.
pub const FORBIDDEN_NAME_CHARS: &[char] = &[
    '!', '@', '#', '$', '%', '[', ']', ':', '{', '}', '?', '*', '\\',
];

/// Which kind of identifiers a file carries. LiveRamp requires one file per kind.
///
/// Two spellings: [`tag`](DataType::tag) (`D`, `PII`; also what `Display` writes) is the one in
/// file and segment names; [`as_str`](DataType::as_str) (`device`, `pii`) is the name for
/// ledger keys, reports and configuration, and the one [`FromStr`] reads back.
///
/// ```
/// use liveramp_file_format::DataType;
///
/// assert_eq!(DataType::Pii.as_str(), "pii");
/// assert_eq!("device".parse::<DataType>()?, DataType::Device);
/// assert_eq!(DataType::Device.to_string(), "D"); // the file-name tag
/// let err = "PII".parse::<DataType>().unwrap_err();
/// assert_eq!(err.to_string(), r#"unknown data type "PII": use "device" or "pii""#);
/// # Ok::<(), liveramp_file_format::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DataType {
    /// Mobile device IDs (IDFA, AAID): names end in `-D`.
    Device,
    /// Personally identifiable information (names, emails, phones, addresses): names end in
    /// `-PII`.
    Pii,
}

impl DataType {
    /// Both data types, device first.
    pub const ALL: [DataType; 2] = [DataType::Device, DataType::Pii];

    /// The data type's name: `"device"` or `"pii"` (lower case), as in ledger keys and
    /// reports. [`FromStr`] reads exactly these strings back.
    ///
    /// ```
    /// use liveramp_file_format::DataType;
    /// assert_eq!(DataType::Device.as_str(), "device");
    /// assert_eq!(DataType::Pii.as_str().parse::<DataType>()?, DataType::Pii);
    /// # Ok::<(), liveramp_file_format::Error>(())
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::Device => "device",
            DataType::Pii => "pii",
        }
    }

    /// The tag used in file and segment names: `"D"` or `"PII"`.
    pub fn tag(self) -> &'static str {
        match self {
            DataType::Device => "D",
            DataType::Pii => "PII",
        }
    }

    /// The segment LiveRamp shows for an audience's files of this type:
    /// `{external_name}-D` or `{external_name}-PII`.
    ///
    /// ```
    /// use liveramp_file_format::DataType;
    /// assert_eq!(DataType::Device.segment_name("High-value customers"), "High-value customers-D");
    /// assert_eq!(DataType::Pii.segment_name("High-value customers"), "High-value customers-PII");
    /// ```
    pub fn segment_name(self, external_name: &str) -> String {
        segment_name(external_name, self)
    }
}

impl fmt::Display for DataType {
    /// Writes the file-name [`tag`](DataType::tag) (`D`, `PII`), not [`as_str`](DataType::as_str).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for DataType {
    type Err = Error;

    /// Reads a data type's [`as_str`](DataType::as_str) name: exactly `device` or `pii`.
    ///
    /// Case-sensitive and not trimmed, so that a parsed name always writes back byte for byte
    /// (these names are keys); anything else, including the tags `D` and `PII`, is an
    /// [`Error::UnknownDataType`].
    fn from_str(s: &str) -> Result<DataType> {
        DataType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| Error::UnknownDataType { name: s.to_owned() })
    }
}

/// The segment name LiveRamp shows for an audience's files of one data type:
/// `{external_name}-D` (device IDs) or `{external_name}-PII` (PII), e.g.
/// `High-value customers-D`. For reports; it is not a file name and is not checked against the
/// file-name rules.
pub fn segment_name(external_name: &str, data_type: DataType) -> String {
    let mut name = String::with_capacity(external_name.len() + 4);
    name.push_str(external_name);
    name.push('-');
    name.push_str(data_type.tag());
    name
}

/// Whether a file is compressed; appends `.gz` to the name when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// Plain CSV.
    #[default]
    None,
    /// gzip (RFC 1952), read by `gzip -d`. The [`CsvFileWriter`](crate::CsvFileWriter)
    /// compresses a file whose name says so.
    Gzip,
}

/// A validated LiveRamp file name:
/// `{org_id}_{audience_id}-D_{YYYY-MM-DD}[_file-part-N].csv[.gz][.gpg]` (`-PII` for PII).
///
/// Every constructor checks the complete name against LiveRamp's rules (ASCII, at most 250
/// characters, no spaces, none of `! @ # $ % [ ] : { } ? * \`, not starting with `.` or `_`)
/// and, because it must also be a file name on every system, no control characters and no `/`.
/// An org or audience ID that would break them is an [`Error::InvalidIdCharacter`] naming the
/// character.
///
/// ```
/// use chrono::NaiveDate;
/// use liveramp_file_format::{Compression, DataType, FileName};
///
/// let date = NaiveDate::from_ymd_opt(2020, 4, 1).unwrap();
/// let name = FileName::new("3242", "17095", DataType::Device, date)?;
/// assert_eq!(name.as_str(), "3242_17095-D_2020-04-01.csv");
///
/// let part = name.with_part(2)?.with_compression(Compression::Gzip)?.with_encryption(true)?;
/// assert_eq!(part.as_str(), "3242_17095-D_2020-04-01_file-part-2.csv.gz.gpg");
/// assert_eq!(part.csv_name(), "3242_17095-D_2020-04-01_file-part-2.csv");
/// assert_eq!("3242_17095-D_2020-04-01_file-part-2.csv.gz.gpg".parse::<FileName>()?, part);
/// # Ok::<(), liveramp_file_format::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileName {
    org_id: String,
    audience_id: String,
    data_type: DataType,
    run_date: NaiveDate,
    part: Option<u32>,
    compression: Compression,
    encrypted: bool,
    rendered: String,
}

impl FileName {
    /// The name of an audience's file of one data type for one run date, unsplit, plain
    /// (`{org_id}_{audience_id}-D_{YYYY-MM-DD}.csv`).
    ///
    /// The IDs may be strings or numbers (anything `Display`): `FileName::new(3242, 17095, ..)`.
    pub fn new(
        org_id: impl fmt::Display,
        audience_id: impl fmt::Display,
        data_type: DataType,
        run_date: NaiveDate,
    ) -> Result<Self> {
        let org_id = org_id.to_string();
        let audience_id = audience_id.to_string();
        check_id(IdField::OrgId, &org_id, true)?;
        check_id(IdField::AudienceId, &audience_id, false)?;
        let year = run_date.year();
        if !(0..=9999).contains(&year) {
            return Err(Error::InvalidRunDate { year });
        }
        Self {
            org_id,
            audience_id,
            data_type,
            run_date,
            part: None,
            compression: Compression::None,
            encrypted: false,
            rendered: String::new(),
        }
        .render()
    }

    /// The device-ID file's name: `{org_id}_{audience_id}-D_{YYYY-MM-DD}.csv`.
    pub fn device(
        org_id: impl fmt::Display,
        audience_id: impl fmt::Display,
        run_date: NaiveDate,
    ) -> Result<Self> {
        Self::new(org_id, audience_id, DataType::Device, run_date)
    }

    /// The PII file's name: `{org_id}_{audience_id}-PII_{YYYY-MM-DD}.csv`.
    pub fn pii(
        org_id: impl fmt::Display,
        audience_id: impl fmt::Display,
        run_date: NaiveDate,
    ) -> Result<Self> {
        Self::new(org_id, audience_id, DataType::Pii, run_date)
    }

    /// This name as part `part` of a split file (`_file-part-N` before `.csv`; N from 1).
    pub fn with_part(&self, part: u32) -> Result<Self> {
        if part == 0 {
            return Err(Error::InvalidPartNumber { part });
        }
        Self {
            part: Some(part),
            ..self.clone()
        }
        .render()
    }

    /// This name without a part number (the name of an unsplit file).
    #[must_use]
    pub fn without_part(&self) -> Self {
        let mut name = Self {
            part: None,
            ..self.clone()
        };
        // Removing a suffix only shortens a valid name: it stays valid.
        name.rendered = name.compose();
        name
    }

    /// This name with `.gz` appended after `.csv` (or removed).
    pub fn with_compression(&self, compression: Compression) -> Result<Self> {
        Self {
            compression,
            ..self.clone()
        }
        .render()
    }

    /// This name with `.gpg` appended last (or removed). The writer does not encrypt: the
    /// caller's sink does, and names the file this way so LiveRamp decrypts it.
    pub fn with_encryption(&self, encrypted: bool) -> Result<Self> {
        Self {
            encrypted,
            ..self.clone()
        }
        .render()
    }

    /// The full name, e.g. `3242_17095-D_2020-04-01.csv.gz.gpg`.
    pub fn as_str(&self) -> &str {
        &self.rendered
    }

    /// The name before compression and encryption, ending in `.csv`: the name LiveRamp uses.
    pub fn csv_name(&self) -> String {
        let mut name = self.clone();
        name.compression = Compression::None;
        name.encrypted = false;
        name.compose()
    }

    /// The org ID.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// The audience ID.
    pub fn audience_id(&self) -> &str {
        &self.audience_id
    }

    /// Device IDs or PII.
    pub fn data_type(&self) -> DataType {
        self.data_type
    }

    /// The run date in the name.
    pub fn run_date(&self) -> NaiveDate {
        self.run_date
    }

    /// The part number, if this names a part of a split file.
    pub fn part(&self) -> Option<u32> {
        self.part
    }

    /// Whether the name ends in `.gz` (before any `.gpg`).
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether the name ends in `.gpg`.
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    fn compose(&self) -> String {
        use fmt::Write as _;
        let mut s = String::with_capacity(self.org_id.len() + self.audience_id.len() + 48);
        s.push_str(&self.org_id);
        s.push('_');
        s.push_str(&self.audience_id);
        s.push('-');
        s.push_str(self.data_type.tag());
        // Writing to a String cannot fail.
        let _ = write!(
            s,
            "_{:04}-{:02}-{:02}",
            self.run_date.year(),
            self.run_date.month(),
            self.run_date.day()
        );
        if let Some(part) = self.part {
            let _ = write!(s, "_file-part-{part}");
        }
        s.push_str(".csv");
        if self.compression == Compression::Gzip {
            s.push_str(".gz");
        }
        if self.encrypted {
            s.push_str(".gpg");
        }
        s
    }

    fn render(mut self) -> Result<Self> {
        let rendered = self.compose();
        // The IDs were checked character by character; the rest is ASCII we wrote.
        let len = rendered.chars().count();
        if len > MAX_NAME_CHARS {
            return Err(Error::NameTooLong {
                name: rendered,
                len,
                max: MAX_NAME_CHARS,
            });
        }
        self.rendered = rendered;
        Ok(self)
    }
}

fn check_id(field: IdField, value: &str, at_start: bool) -> Result<()> {
    let Some(first) = value.chars().next() else {
        return Err(Error::EmptyId { field });
    };
    let bad = |character: char, rule: &'static str| Error::InvalidIdCharacter {
        field,
        value: value.to_owned(),
        character,
        code: format!("U+{:04X}", u32::from(character)),
        rule,
    };
    if at_start && (first == '.' || first == '_') {
        return Err(bad(first, "a file name must not start with '.' or '_'"));
    }
    for c in value.chars() {
        if !c.is_ascii() {
            return Err(bad(c, "file names must be ASCII"));
        }
        if c == ' ' {
            return Err(bad(c, "file names must not contain spaces"));
        }
        if FORBIDDEN_NAME_CHARS.contains(&c) {
            return Err(bad(
                c,
                "file names must not contain any of ! @ # $ % [ ] : { } ? * \\",
            ));
        }
        if c.is_ascii_control() {
            return Err(bad(c, "file names must not contain control characters"));
        }
        if c == '/' {
            return Err(bad(c, "a file name cannot contain a path separator"));
        }
    }
    Ok(())
}

impl fmt::Display for FileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rendered)
    }
}

impl From<&FileName> for FileName {
    fn from(name: &FileName) -> Self {
        name.clone()
    }
}

impl AsRef<str> for FileName {
    fn as_ref(&self) -> &str {
        &self.rendered
    }
}

impl FromStr for FileName {
    type Err = Error;

    /// Parses a name this crate produces. The org ID is taken to end at the first `_`, so a
    /// name whose org ID contains `_` parses with a different split (and still round-trips to
    /// the same string).
    fn from_str(s: &str) -> Result<Self> {
        let unrecognised = |reason| Error::UnrecognisedFileName {
            name: s.to_owned(),
            reason,
        };
        let (rest, encrypted) = match s.strip_suffix(".gpg") {
            Some(rest) => (rest, true),
            None => (s, false),
        };
        let (rest, compression) = match rest.strip_suffix(".gz") {
            Some(rest) => (rest, Compression::Gzip),
            None => (rest, Compression::None),
        };
        let rest = rest.strip_suffix(".csv").ok_or_else(|| {
            unrecognised("it does not end in .csv, .csv.gz, .csv.gpg or .csv.gz.gpg")
        })?;
        let (rest, part) = match rest.rfind("_file-part-") {
            Some(at) => {
                let digits = &rest[at + "_file-part-".len()..];
                let part = digits
                    .parse::<u32>()
                    .map_err(|_| unrecognised("the part number is not a number"))?;
                (&rest[..at], Some(part))
            }
            None => (rest, None),
        };
        let date_at = rest
            .len()
            .checked_sub("_YYYY-MM-DD".len())
            .filter(|&at| rest.is_char_boundary(at) && rest[at..].starts_with('_'))
            .ok_or_else(|| unrecognised("no _YYYY-MM-DD run date before the extension"))?;
        let run_date = NaiveDate::parse_from_str(&rest[date_at + 1..], "%Y-%m-%d")
            .map_err(|_| unrecognised("the run date is not a valid YYYY-MM-DD date"))?;
        let rest = &rest[..date_at];
        let (rest, data_type) = if let Some(rest) = rest.strip_suffix("-PII") {
            (rest, DataType::Pii)
        } else if let Some(rest) = rest.strip_suffix("-D") {
            (rest, DataType::Device)
        } else {
            return Err(unrecognised("no -D or -PII data type before the run date"));
        };
        let (org_id, audience_id) = rest
            .split_once('_')
            .ok_or_else(|| unrecognised("no _ between the org ID and the audience ID"))?;
        let mut name = FileName::new(org_id, audience_id, data_type, run_date)?
            .with_compression(compression)?
            .with_encryption(encrypted)?;
        if let Some(part) = part {
            name = name.with_part(part)?;
        }
        if name.as_str() == s {
            Ok(name)
        } else {
            Err(unrecognised(
                "it is not written the way this crate writes names",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2020, 4, 1).unwrap()
    }

    #[test]
    fn seed_example_byte_for_byte() {
        let name = FileName::new("3242", "17095", DataType::Device, date()).unwrap();
        assert_eq!(name.as_str().as_bytes(), b"3242_17095-D_2020-04-01.csv");
        assert_eq!(name.to_string(), "3242_17095-D_2020-04-01.csv");
        let pii = FileName::new("3242", "17095", DataType::Pii, date()).unwrap();
        assert_eq!(pii.as_str(), "3242_17095-PII_2020-04-01.csv");
        assert_eq!(
            FileName::new(3242, 17095_u64, DataType::Device, date()).unwrap(),
            name
        );
        assert_eq!(FileName::device(3242, "17095", date()).unwrap(), name);
        assert_eq!(FileName::pii("3242", 17095, date()).unwrap(), pii);
    }

    #[test]
    fn suffixes_in_order() {
        let name = FileName::new("3242", "17095", DataType::Pii, date()).unwrap();
        assert_eq!(
            name.with_compression(Compression::Gzip).unwrap().as_str(),
            "3242_17095-PII_2020-04-01.csv.gz"
        );
        assert_eq!(
            name.with_encryption(true).unwrap().as_str(),
            "3242_17095-PII_2020-04-01.csv.gpg"
        );
        let full = name
            .with_encryption(true)
            .unwrap()
            .with_part(1)
            .unwrap()
            .with_compression(Compression::Gzip)
            .unwrap();
        assert_eq!(
            full.as_str(),
            "3242_17095-PII_2020-04-01_file-part-1.csv.gz.gpg"
        );
        assert_eq!(full.csv_name(), "3242_17095-PII_2020-04-01_file-part-1.csv");
        assert_eq!(full.part(), Some(1));
        assert_eq!(
            full.without_part().as_str(),
            "3242_17095-PII_2020-04-01.csv.gz.gpg"
        );
        assert!(matches!(
            name.with_part(0),
            Err(Error::InvalidPartNumber { part: 0 })
        ));
    }

    #[test]
    fn every_forbidden_character_is_named() {
        for c in FORBIDDEN_NAME_CHARS
            .iter()
            .copied()
            .chain([' ', 'é', '\n', '/', '\u{7f}'])
        {
            let org = format!("32{c}42");
            let err = FileName::new(&org, "17095", DataType::Device, date()).unwrap_err();
            match &err {
                Error::InvalidIdCharacter {
                    field, character, ..
                } => {
                    assert_eq!(*field, IdField::OrgId);
                    assert_eq!(*character, c);
                }
                other => panic!("{c:?}: {other:?}"),
            }
            assert!(err.to_string().contains(&format!("{c:?}")), "{err}");
            let err = FileName::new("3242", &org, DataType::Pii, date()).unwrap_err();
            assert!(matches!(
                err,
                Error::InvalidIdCharacter { field: IdField::AudienceId, character, .. } if character == c
            ));
        }
    }

    #[test]
    fn leading_dot_or_underscore() {
        for c in ['.', '_'] {
            let err = FileName::new(format!("{c}3242"), "1", DataType::Device, date()).unwrap_err();
            assert!(
                matches!(err, Error::InvalidIdCharacter { character, field: IdField::OrgId, .. } if character == c)
            );
        }
        // Inside the name they are allowed.
        let name = FileName::new("3.2_4", "_17.095", DataType::Device, date()).unwrap();
        assert_eq!(name.as_str(), "3.2_4__17.095-D_2020-04-01.csv");
        assert!(matches!(
            FileName::new("", "1", DataType::Device, date()),
            Err(Error::EmptyId {
                field: IdField::OrgId
            })
        ));
        assert!(matches!(
            FileName::new("1", "", DataType::Device, date()),
            Err(Error::EmptyId {
                field: IdField::AudienceId
            })
        ));
    }

    #[test]
    fn length_limit_is_exact() {
        // "1_" + audience + "-D_2020-04-01.csv" == 250 characters.
        let fixed = "1_".len() + "-D_2020-04-01.csv".len();
        let audience = "9".repeat(MAX_NAME_CHARS - fixed);
        let name = FileName::new("1", &audience, DataType::Device, date()).unwrap();
        assert_eq!(name.as_str().len(), 250);
        assert!(matches!(
            name.with_compression(Compression::Gzip),
            Err(Error::NameTooLong {
                len: 253,
                max: 250,
                ..
            })
        ));
        let audience = "9".repeat(MAX_NAME_CHARS - fixed + 1);
        assert!(matches!(
            FileName::new("1", &audience, DataType::Device, date()),
            Err(Error::NameTooLong { len: 251, .. })
        ));
    }

    #[test]
    fn run_date_year_must_have_four_digits() {
        let far = NaiveDate::from_ymd_opt(12020, 1, 1).unwrap();
        assert!(matches!(
            FileName::new("1", "2", DataType::Device, far),
            Err(Error::InvalidRunDate { year: 12020 })
        ));
    }

    #[test]
    fn parse_round_trips() {
        for s in [
            "3242_17095-D_2020-04-01.csv",
            "3242_17095-PII_2020-04-01.csv.gz",
            "3242_17095-PII_2020-04-01.csv.gpg",
            "3242_17095-D_2020-04-01_file-part-12.csv.gz.gpg",
            "3242_a_b-c-D_2020-04-01.csv",
        ] {
            let name: FileName = s.parse().unwrap();
            assert_eq!(name.as_str(), s);
        }
        let name: FileName = "3242_17095-D_2020-04-01_file-part-3.csv.gz"
            .parse()
            .unwrap();
        assert_eq!(name.org_id(), "3242");
        assert_eq!(name.audience_id(), "17095");
        assert_eq!(name.data_type(), DataType::Device);
        assert_eq!(name.run_date(), date());
        assert_eq!(name.part(), Some(3));
        assert_eq!(name.compression(), Compression::Gzip);
        assert!(!name.is_encrypted());
        for bad in [
            "3242_17095-D_2020-04-01.txt",
            "3242_17095-X_2020-04-01.csv",
            "3242_17095-D_2020-13-01.csv",
            "3242-D_2020-04-01.csv",
            "3242_17095-D_2020-04-01_file-part-01.csv",
            "3242_17095-D_2020-04-01_file-part-0.csv",
            "D_2020-04-01.csv",
            "é.csv",
        ] {
            assert!(bad.parse::<FileName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn data_type_names() {
        assert_eq!(DataType::Device.as_str(), "device");
        assert_eq!(DataType::Pii.as_str(), "pii");
        for t in DataType::ALL {
            assert_eq!(t.as_str().parse::<DataType>().unwrap(), t);
        }
        // Display is the file-name tag, unchanged.
        assert_eq!(DataType::Device.to_string(), "D");
        assert_eq!(DataType::Pii.to_string(), "PII");
        for bad in ["", "Device", "PII", "D", " pii", "pii\n", "devices", "p"] {
            let err = bad.parse::<DataType>().unwrap_err();
            assert!(
                matches!(&err, Error::UnknownDataType { name } if name == bad),
                "{bad:?}: {err:?}"
            );
            assert_eq!(
                err.to_string(),
                format!("unknown data type {bad:?}: use \"device\" or \"pii\"")
            );
        }
    }

    #[test]
    fn segment_names() {
        assert_eq!(
            segment_name("High-value customers", DataType::Device),
            "High-value customers-D"
        );
        assert_eq!(
            DataType::Pii.segment_name("High-value customers"),
            "High-value customers-PII"
        );
    }
}

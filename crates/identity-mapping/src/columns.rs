//! The built-in PII column tokens, as tables: [`ATTRIBUTE_COLUMNS`] (one row per column that
//! reads a reserved user attribute) and [`FAMILY_TOKENS`] (the email and phone tokens).
//!
//! Everything else is derived from these two tables: the token lookup ([`builtin_token`]), the
//! headers, the reserved-attribute scan and the fill bookkeeping of the mapper (an index into
//! [`ATTRIBUTE_COLUMNS`]), and the list of tokens in [`Error::UnknownColumn`]'s message
//! ([`BuiltinTokens`]). A new built-in column that reads a reserved user attribute is one row
//! of [`ATTRIBUTE_COLUMNS`] (plus its test, and the token in the list of `config.rs`'s docs);
//! only a new kind of normalisation also needs a [`Cleaner`] variant.
//!
//! [`Error::UnknownColumn`]: crate::Error::UnknownColumn

use std::fmt;

use liveramp_pii_normalize::{City, Country, HashAlgorithm, PersonName, Rejected, State, Zip};

/// How a built-in column's value is normalised (with `pii-normalize`; never hashed). An enum
/// rather than a function pointer so the mapper's per-member loop can inline every cleaner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cleaner {
    /// [`PersonName`] (`FIRSTNAME`, `LASTNAME`).
    PersonName,
    /// `ADDRESS1`: the same free-text cleanup as names and cities (trimmed, whitespace runs
    /// and line breaks collapsed to one space, control characters removed), with its own
    /// rejection code `address.empty`.
    Address,
    /// [`City`].
    City,
    /// [`State`].
    State,
    /// [`Zip`].
    Zip,
    /// [`Country`].
    Country,
}

impl Cleaner {
    /// Normalises a raw attribute value, appending it to the (empty) cell, or says why not
    /// with a stable rejection code.
    #[inline]
    pub(crate) fn clean(self, raw: &str, cell: &mut String) -> Result<(), &'static str> {
        match self {
            Cleaner::PersonName => PersonName::parse_into(raw, cell).map_err(|r| r.code()),
            Cleaner::Address => City::parse_into(raw, cell).map_err(|_| "address.empty"),
            Cleaner::City => City::parse_into(raw, cell).map_err(|r| r.code()),
            Cleaner::State => push(State::parse(raw), cell),
            Cleaner::Zip => push(Zip::parse(raw), cell),
            Cleaner::Country => push(Country::parse(raw), cell),
        }
    }
}

/// Appends a parsed value to the cell, or gives its rejection code.
#[inline]
fn push<T: AsRef<str>>(parsed: Result<T, Rejected>, cell: &mut String) -> Result<(), &'static str> {
    let value = parsed.map_err(|r| r.code())?;
    cell.push_str(value.as_ref());
    Ok(())
}

/// One built-in PII column that reads a reserved user attribute.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AttributeColumn {
    /// The `send_pii` token, in its canonical upper-case spelling (tokens are matched after
    /// trimming and upper-casing).
    pub(crate) token: &'static str,
    /// The header the column writes; also the `column` of its rejections.
    pub(crate) header: &'static str,
    /// The reserved user attribute it reads (the last of a repeated name wins).
    pub(crate) attribute: &'static str,
    /// Where a rejected value came from, in rejections: `user_attributes.{attribute}`.
    pub(crate) field: &'static str,
    /// How the value is normalised (never hashed).
    pub(crate) clean: Cleaner,
}

/// The built-in columns that read a reserved user attribute, in the order the error message
/// and the docs list their tokens.
pub(crate) const ATTRIBUTE_COLUMNS: &[AttributeColumn] = &[
    AttributeColumn {
        token: "FIRSTNAME",
        header: "FIRSTNAME",
        attribute: "$FirstName",
        field: "user_attributes.$FirstName",
        clean: Cleaner::PersonName,
    },
    AttributeColumn {
        token: "LASTNAME",
        header: "LASTNAME",
        attribute: "$LastName",
        field: "user_attributes.$LastName",
        clean: Cleaner::PersonName,
    },
    AttributeColumn {
        token: "ADDRESS1",
        header: "ADDRESS1",
        attribute: "$Address",
        field: "user_attributes.$Address",
        clean: Cleaner::Address,
    },
    AttributeColumn {
        token: "CITY",
        header: "CITY",
        attribute: "$City",
        field: "user_attributes.$City",
        clean: Cleaner::City,
    },
    AttributeColumn {
        token: "STATE",
        header: "STATE",
        attribute: "$State",
        field: "user_attributes.$State",
        clean: Cleaner::State,
    },
    AttributeColumn {
        token: "ZIP",
        header: "ZIP",
        attribute: "$Zip",
        field: "user_attributes.$Zip",
        clean: Cleaner::Zip,
    },
    AttributeColumn {
        token: "COUNTRY",
        header: "COUNTRY",
        attribute: "$Country",
        field: "user_attributes.$Country",
        clean: Cleaner::Country,
    },
];

/// One flag per row of [`ATTRIBUTE_COLUMNS`], by index: which columns a config has, or which
/// cells of a row were filled.
pub(crate) type ColumnSet = [bool; ATTRIBUTE_COLUMNS.len()];

/// Which family an email or phone token expands into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FamilyKind {
    /// `EMAIL1..EMAILn`.
    Email,
    /// `PHONE1..PHONEn`.
    Phone,
}

/// One email or phone column token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FamilyToken {
    /// The `send_pii` token, canonical (matched after trimming, upper-casing and spelling
    /// `SHA-` as `SHA`).
    pub(crate) token: &'static str,
    /// The family it expands into.
    pub(crate) family: FamilyKind,
    /// Raw (`None`, or the family's hashes when hashing is on) or one hash.
    pub(crate) hash: Option<HashAlgorithm>,
}

/// The email and phone tokens, in the order the error message and the docs list them (after
/// the [`ATTRIBUTE_COLUMNS`] tokens).
pub(crate) const FAMILY_TOKENS: &[FamilyToken] = &[
    FamilyToken {
        token: "EMAIL",
        family: FamilyKind::Email,
        hash: None,
    },
    FamilyToken {
        token: "EMAIL_MD5",
        family: FamilyKind::Email,
        hash: Some(HashAlgorithm::Md5),
    },
    FamilyToken {
        token: "EMAIL_SHA1",
        family: FamilyKind::Email,
        hash: Some(HashAlgorithm::Sha1),
    },
    FamilyToken {
        token: "EMAIL_SHA256",
        family: FamilyKind::Email,
        hash: Some(HashAlgorithm::Sha256),
    },
    FamilyToken {
        token: "PHONE",
        family: FamilyKind::Phone,
        hash: None,
    },
    FamilyToken {
        token: "PHONE_MD5",
        family: FamilyKind::Phone,
        hash: Some(HashAlgorithm::Md5),
    },
    FamilyToken {
        token: "PHONE_SHA1",
        family: FamilyKind::Phone,
        hash: Some(HashAlgorithm::Sha1),
    },
    FamilyToken {
        token: "PHONE_SHA256",
        family: FamilyKind::Phone,
        hash: Some(HashAlgorithm::Sha256),
    },
];

/// A built-in column token, after case folding and `SHA-1`/`SHA-256` spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Token {
    /// The row of [`ATTRIBUTE_COLUMNS`] with this index.
    Attribute(usize),
    /// An email or phone token.
    Family(FamilyKind, Option<HashAlgorithm>),
}

/// Looks a `send_pii` token up in the tables (trimmed, any case, `SHA-1` for `SHA1`).
pub(crate) fn builtin_token(token: &str) -> Option<Token> {
    let t = token.trim().to_ascii_uppercase().replace("SHA-", "SHA");
    if let Some(i) = ATTRIBUTE_COLUMNS.iter().position(|c| c.token == t) {
        return Some(Token::Attribute(i));
    }
    FAMILY_TOKENS
        .iter()
        .find(|f| f.token == t)
        .map(|f| Token::Family(f.family, f.hash))
}

/// Every built-in token, table order, `, `-separated (for [`Error::UnknownColumn`]).
///
/// [`Error::UnknownColumn`]: crate::Error::UnknownColumn
#[derive(Debug, Clone, Copy)]
pub(crate) struct BuiltinTokens;

impl fmt::Display for BuiltinTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens = ATTRIBUTE_COLUMNS
            .iter()
            .map(|c| c.token)
            .chain(FAMILY_TOKENS.iter().map(|t| t.token));
        for (i, token) in tokens.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(token)?;
        }
        Ok(())
    }
}

/// LiveRamp's other way to match a member without an email or phone: `FIRSTNAME`, `LASTNAME`
/// and `ADDRESS1`, with `ZIP` or both `CITY` and `STATE`. `has` is indexed like
/// [`ATTRIBUTE_COLUMNS`].
pub(crate) fn name_and_address(has: ColumnSet) -> bool {
    has[FIRST_NAME] && has[LAST_NAME] && has[ADDRESS] && (has[ZIP] || (has[CITY] && has[STATE]))
}

const FIRST_NAME: usize = index_of("FIRSTNAME");
const LAST_NAME: usize = index_of("LASTNAME");
const ADDRESS: usize = index_of("ADDRESS1");
const CITY: usize = index_of("CITY");
const STATE: usize = index_of("STATE");
const ZIP: usize = index_of("ZIP");

/// The index of a token's row in [`ATTRIBUTE_COLUMNS`]; evaluated at compile time, where a
/// missing token fails the build.
const fn index_of(token: &str) -> usize {
    let mut i = 0;
    while i < ATTRIBUTE_COLUMNS.len() {
        if const_str_eq(ATTRIBUTE_COLUMNS[i].token, token) {
            return i;
        }
        i += 1;
    }
    panic!("no such token in ATTRIBUTE_COLUMNS");
}

const fn const_str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_canonical_and_unique() {
        let tokens: Vec<&str> = ATTRIBUTE_COLUMNS
            .iter()
            .map(|c| c.token)
            .chain(FAMILY_TOKENS.iter().map(|t| t.token))
            .collect();
        for (i, token) in tokens.iter().enumerate() {
            assert_eq!(
                *token,
                token.trim().to_ascii_uppercase().replace("SHA-", "SHA")
            );
            assert!(!tokens[..i].contains(token), "{token} twice");
        }
        assert!(ATTRIBUTE_COLUMNS.len() <= 32);
    }

    #[test]
    fn attribute_rows_are_consistent() {
        for (i, column) in ATTRIBUTE_COLUMNS.iter().enumerate() {
            assert!(column.attribute.starts_with('$'), "{}", column.token);
            assert_eq!(
                column.field,
                format!("user_attributes.{}", column.attribute)
            );
            assert_ne!(column.attribute, "$Mobile", "$Mobile is a phone source");
            assert!(
                !ATTRIBUTE_COLUMNS[..i]
                    .iter()
                    .any(|c| c.attribute == column.attribute || c.header == column.header),
                "{} repeats an attribute or a header",
                column.token
            );
        }
    }

    #[test]
    fn lookup_folds_case_space_and_sha_spelling() {
        assert_eq!(builtin_token(" city "), Some(Token::Attribute(CITY)));
        assert_eq!(
            builtin_token("FirstName"),
            Some(Token::Attribute(FIRST_NAME))
        );
        assert_eq!(
            builtin_token("email_sha-256"),
            Some(Token::Family(
                FamilyKind::Email,
                Some(HashAlgorithm::Sha256)
            ))
        );
        assert_eq!(
            builtin_token("Phone"),
            Some(Token::Family(FamilyKind::Phone, None))
        );
        assert_eq!(builtin_token("ZIP4"), None);
        assert_eq!(builtin_token("$City"), None);
        for (i, column) in ATTRIBUTE_COLUMNS.iter().enumerate() {
            assert_eq!(builtin_token(column.token), Some(Token::Attribute(i)));
        }
    }

    #[test]
    fn the_token_list_is_the_one_the_message_always_had() {
        assert_eq!(
            BuiltinTokens.to_string(),
            "FIRSTNAME, LASTNAME, ADDRESS1, CITY, STATE, ZIP, COUNTRY, EMAIL, EMAIL_MD5, \
             EMAIL_SHA1, EMAIL_SHA256, PHONE, PHONE_MD5, PHONE_SHA1, PHONE_SHA256"
        );
    }

    #[test]
    fn the_config_docs_list_the_tokens_in_table_order() {
        let source = include_str!("config.rs");
        let docs: String = source
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("///"))
            .collect::<Vec<_>>()
            .join(" ");
        let docs = docs.split_whitespace().collect::<Vec<_>>().join(" ");
        let attributes = ATTRIBUTE_COLUMNS
            .iter()
            .map(|c| format!("`{}`", c.token))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(
            docs.contains(&format!("in this order: {attributes} (one column each)")),
            "config.rs's docs do not list {attributes}"
        );
        for token in FAMILY_TOKENS {
            assert!(
                docs.contains(&format!("`{}`", token.token)),
                "{}",
                token.token
            );
        }
    }

    #[test]
    fn the_matching_rule() {
        let set = |tokens: &[&str]| {
            let mut has = ColumnSet::default();
            for token in tokens {
                has[index_of(token)] = true;
            }
            has
        };
        assert!(name_and_address(set(&[
            "FIRSTNAME",
            "LASTNAME",
            "ADDRESS1",
            "ZIP"
        ])));
        assert!(name_and_address(set(&[
            "FIRSTNAME",
            "LASTNAME",
            "ADDRESS1",
            "CITY",
            "STATE"
        ])));
        assert!(!name_and_address(set(&[
            "FIRSTNAME",
            "LASTNAME",
            "ADDRESS1",
            "CITY",
            "COUNTRY"
        ])));
        assert!(!name_and_address(set(&["FIRSTNAME", "ADDRESS1", "ZIP"])));
    }

    #[test]
    fn cleaners_keep_their_codes() {
        let clean = |token: &str, raw: &str| {
            let mut cell = String::new();
            ATTRIBUTE_COLUMNS[index_of(token)]
                .clean
                .clean(raw, &mut cell)
                .map(|()| cell)
        };
        assert_eq!(clean("STATE", "new york"), Ok("NY".to_owned()));
        assert_eq!(clean("ZIP", "10001-1234"), Ok("100011234".to_owned()));
        assert_eq!(clean("COUNTRY", "USA"), Ok("US".to_owned()));
        assert_eq!(clean("CITY", " New  York "), Ok("New York".to_owned()));
        assert_eq!(clean("ADDRESS1", " \n "), Err("address.empty"));
        assert!(clean("ZIP", "ABCDE").is_err());
    }
}

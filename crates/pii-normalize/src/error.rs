//! Why a value was rejected.

/// Why a raw value could not be normalised.
///
/// Each variant has a stable short code ([`Rejected::code`]) meant for reports that count
/// rejections per reason. The messages say what is wrong and what to fix; they never contain
/// the raw value itself, so they are safe to log (the raw value is personal data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Rejected {
    /// The email was empty (or only whitespace).
    #[error("email is empty: supply an address such as name@example.com")]
    EmailEmpty,
    /// The email has no `@`.
    #[error("email has no '@': supply a full address such as name@example.com")]
    EmailNoAt,
    /// The email has more than one `@`.
    #[error("email has more than one '@': supply a single address per field")]
    EmailManyAt,
    /// Nothing before the `@`.
    #[error("email has nothing before the '@': supply the mailbox name too")]
    EmailEmptyLocal,
    /// The domain is missing a dot, has an empty label or a label starting or ending with `-`.
    #[error(
        "email domain is malformed (needs at least one dot, no empty labels, no label starting \
         or ending with '-'): check the part after the '@'"
    )]
    EmailBadDomain,
    /// The email contains a character that cannot appear in an address.
    #[error(
        "email contains a character that cannot appear in an address (quotes, brackets, commas, \
         control characters, ...): remove it or fix the export"
    )]
    EmailBadChar,
    /// The email is longer than the 254 characters an address may have.
    #[error("email is longer than 254 bytes: this is not a single address")]
    EmailTooLong,
    /// The phone was empty (or only whitespace/punctuation).
    #[error("phone is empty: supply a US number such as (212) 555-0123")]
    PhoneEmpty,
    /// The phone could not be read as a number at all (too few digits, too many, stray text).
    #[error(
        "phone cannot be read as a phone number (too short, too long or not a number): supply \
         a 10-digit US number"
    )]
    PhoneUnparsable,
    /// The phone is a number of another country (not country calling code 1).
    #[error(
        "phone has country calling code +{country_code}, not +1: LiveRamp matches only US/NANP \
         numbers"
    )]
    PhoneNotNanp {
        /// The country calling code the number carries.
        country_code: u16,
    },
    /// The phone has the shape of a NANP number but is not a valid one (unassigned area code,
    /// exchange starting with 0 or 1, ...).
    #[error(
        "phone is not a valid US/NANP number (for example an unassigned area code such as 555 \
         or an exchange starting with 0 or 1): check the digits"
    )]
    PhoneInvalid,
    /// The IDFA was empty.
    #[error("IDFA is empty: supply a UUID such as 6D92078A-8246-4BA4-AE5B-76104861E7DC")]
    IdfaEmpty,
    /// The IDFA is not a UUID.
    #[error(
        "IDFA is not a UUID (8-4-4-4-12 hex digits, or 32 hex digits without hyphens): check \
         the value"
    )]
    IdfaBadShape,
    /// The IDFA is all zeros: the user limited ad tracking.
    #[error("IDFA is all zeros: the user limited ad tracking, so it is not an identifier")]
    IdfaZero,
    /// The AAID was empty.
    #[error("AAID is empty: supply a UUID such as 38400000-8cf0-11bd-b23e-10b96e40000d")]
    AaidEmpty,
    /// The AAID is not a UUID.
    #[error(
        "AAID is not a UUID (8-4-4-4-12 hex digits, or 32 hex digits without hyphens): check \
         the value"
    )]
    AaidBadShape,
    /// The AAID is all zeros: the user limited ad tracking.
    #[error("AAID is all zeros: the user limited ad tracking, so it is not an identifier")]
    AaidZero,
    /// The ZIP was empty.
    #[error("ZIP is empty: supply a 5-digit ZIP or a ZIP+4")]
    ZipEmpty,
    /// The ZIP is not 3-5 or 9 digits.
    #[error(
        "ZIP is not a US ZIP (5 digits, 9 digits, or 5+4 with a hyphen; 3-4 digits are \
         zero-padded): check the value"
    )]
    ZipBadShape,
    /// The state was empty.
    #[error("state is empty: supply a USPS code such as NY or a full name such as New York")]
    StateEmpty,
    /// The state is neither a USPS code nor a known name.
    #[error(
        "state is not a USPS code or the name of a US state, DC or territory: use a code such as \
         NY"
    )]
    StateUnknown,
    /// The country was empty.
    #[error("country is empty: supply an ISO 3166-1 code such as US")]
    CountryEmpty,
    /// The country is not a known ISO 3166-1 code or name.
    #[error(
        "country is not a known ISO 3166-1 alpha-2/alpha-3 code or English name: use a code such \
         as US"
    )]
    CountryUnknown,
    /// The person name was empty after cleaning.
    #[error("name is empty after removing whitespace and control characters")]
    NameEmpty,
    /// The city was empty after cleaning.
    #[error("city is empty after removing whitespace and control characters")]
    CityEmpty,
}

impl Rejected {
    /// A stable short code for this reason, such as `email.no_at`, for rejection reports.
    ///
    /// Codes never change once released; new reasons get new codes.
    pub fn code(&self) -> &'static str {
        match self {
            Rejected::EmailEmpty => "email.empty",
            Rejected::EmailNoAt => "email.no_at",
            Rejected::EmailManyAt => "email.many_at",
            Rejected::EmailEmptyLocal => "email.empty_local",
            Rejected::EmailBadDomain => "email.bad_domain",
            Rejected::EmailBadChar => "email.bad_char",
            Rejected::EmailTooLong => "email.too_long",
            Rejected::PhoneEmpty => "phone.empty",
            Rejected::PhoneUnparsable => "phone.unparsable",
            Rejected::PhoneNotNanp { .. } => "phone.not_nanp",
            Rejected::PhoneInvalid => "phone.invalid",
            Rejected::IdfaEmpty => "idfa.empty",
            Rejected::IdfaBadShape => "idfa.bad_shape",
            Rejected::IdfaZero => "idfa.limited_ad_tracking",
            Rejected::AaidEmpty => "aaid.empty",
            Rejected::AaidBadShape => "aaid.bad_shape",
            Rejected::AaidZero => "aaid.limited_ad_tracking",
            Rejected::ZipEmpty => "zip.empty",
            Rejected::ZipBadShape => "zip.bad_shape",
            Rejected::StateEmpty => "state.empty",
            Rejected::StateUnknown => "state.unknown",
            Rejected::CountryEmpty => "country.empty",
            Rejected::CountryUnknown => "country.unknown",
            Rejected::NameEmpty => "name.empty",
            Rejected::CityEmpty => "city.empty",
        }
    }
}

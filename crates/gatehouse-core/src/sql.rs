//! Domain enums as SQL `TEXT` columns (feature `sql`, for the store): each
//! is written as its canonical string and read back through `FromStr`, so a
//! value the code does not know is a read error, never a silent default.
//! The tables keep their CHECK constraints as the second line of defence.

/// Implements diesel's `ToSql`/`FromSql` as `TEXT` on SQLite and
/// PostgreSQL for an enum with `as_str(self) -> &'static str` and `FromStr`.
macro_rules! text_enum_sql {
    ($t:ty) => {
        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::sqlite::Sqlite> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::sqlite::Sqlite>,
            ) -> diesel::serialize::Result {
                out.set_value(self.as_str());
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $t {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                out.write_all(self.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $t
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let s = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                s.parse::<$t>().map_err(|e| e.to_string().into())
            }
        }
    };
}

text_enum_sql!(crate::UserStatus);
text_enum_sql!(crate::SigningAlg);
text_enum_sql!(crate::GrantKind);

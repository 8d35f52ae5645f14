//! Closed sets of values stored as text: each variant and its stored spelling are written
//! once, and the enum is a sea-orm active enum, so a query can only store a known value.

/// Declares a text-backed active enum with `as_str`, `Display`, `FromStr` and comparison
/// with `&str` (for logs, raw SQL parameters and tests that read rows).
macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($len:literal) { $( $(#[$vmeta:meta])* $variant:ident = $value:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum)]
        #[sea_orm(rs_type = "String", db_type = $len)]
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $value)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $value),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s).ok_or_else(|| {
                    format!("{s:?} is not a {} value", stringify!($name))
                })
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}

pub(crate) use text_enum;

//! What a credential may do. Four scopes, as deSEC grants its tokens theirs: `read` (list,
//! allocation, history), `allocate` (reserve, and commit or release what it reserved),
//! `registrar` (the bring-your-own registrar routes) and `operate` (everything, for any
//! allocation: force-release, the pool freeze, credentials).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Read,
    Allocate,
    Registrar,
    Operate,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Self::Read, Self::Allocate, Self::Registrar, Self::Operate];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Allocate => "allocate",
            Self::Registrar => "registrar",
            Self::Operate => "operate",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == raw.trim())
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A credential's scopes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// What an environment credential gets when `PDM_API_SCOPES` names none for it: all but
    /// `operate`, so force-release needs it given explicitly.
    pub const DEFAULT: Scopes = Scopes(0b0111);

    /// `read+allocate`: scopes joined by `+` (or listed apart by commas or spaces).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut scopes = Scopes(0);
        for raw in list.split(['+', ',', ' ']).filter(|s| !s.trim().is_empty()) {
            let scope = Scope::parse(raw).ok_or_else(|| {
                format!("{raw:?} is not a scope (read, allocate, registrar or operate)")
            })?;
            scopes.0 |= scope.bit();
        }
        if scopes.0 == 0 {
            return Err("at least one scope is needed".to_owned());
        }
        Ok(scopes)
    }

    /// Whether a route needing `needed` is allowed: `operate` allows everything.
    pub fn allow(self, needed: Scope) -> bool {
        self.0 & (needed.bit() | Scope::Operate.bit()) != 0
    }

    /// Whether these include `operate`: any allocation, not only the credential's own.
    pub fn operate(self) -> bool {
        self.0 & Scope::Operate.bit() != 0
    }

    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.0 & scope.bit() != 0)
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join("+"))
    }
}

/// Who is calling: a credential's name and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub scopes: Scopes,
    /// The most live allocations (reserved, active, releasing) it may hold across all pools.
    pub quota: Option<u32>,
}

impl Caller {
    /// The owner an allocation must have for this caller to change it: its own name, unless
    /// it operates.
    pub fn owner_required(&self) -> Option<&str> {
        (!self.scopes.operate()).then_some(self.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operate_allows_everything_and_the_default_all_but_operate() {
        let operate = Scopes::parse("operate").unwrap();
        for scope in Scope::ALL {
            assert!(operate.allow(scope));
            assert_eq!(Scopes::DEFAULT.allow(scope), scope != Scope::Operate);
        }
        let narrow = Scopes::parse("allocate+registrar").unwrap();
        assert!(narrow.allow(Scope::Allocate) && narrow.allow(Scope::Registrar));
        assert!(!narrow.allow(Scope::Read) && !narrow.allow(Scope::Operate));
        assert!(Scopes::parse("allocate+root").is_err());
        assert!(Scopes::parse("").is_err());
        assert_eq!(format!("{narrow:?}"), "allocate+registrar");
    }
}

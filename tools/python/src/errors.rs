//! The exception classes and the mapping of library errors to them. Messages are the
//! library's Display strings (what the CLI prints after `logpivot: `).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

create_exception!(
    logpivot,
    LogpivotError,
    PyException,
    "Base class of every logpivot error."
);
create_exception!(
    logpivot,
    InvalidArgument,
    LogpivotError,
    "A malformed argument: a filter, a --join spec, a size, a time, an unknown field."
);
create_exception!(
    logpivot,
    DataError,
    LogpivotError,
    "Bad input data: a bad line with strict=True, or inputs that hold no JSON log."
);
create_exception!(
    logpivot,
    StoreIOError,
    LogpivotError,
    "An operating-system error, a held writer lock, the spill directory or memory limit."
);
create_exception!(
    logpivot,
    CorruptStore,
    LogpivotError,
    "Not a data directory, a corrupt segment or manifest, or an unsupported format version."
);

/// The Python exception for a library error.
pub fn to_py(e: logpivot::Error) -> PyErr {
    use logpivot::Error as E;
    let msg = e.to_string();
    match e {
        E::Invalid(_) | E::UnknownField { .. } => InvalidArgument::new_err(msg),
        E::BadInput { .. } | E::NoLogs { .. } => DataError::new_err(msg),
        E::Io { .. } | E::Locked { .. } | E::Spill { .. } | E::Memory { .. } => {
            StoreIOError::new_err(msg)
        }
        E::Corrupt { .. } | E::Version { .. } | E::NoDataDir { .. } => CorruptStore::new_err(msg),
        E::Interrupted => PyKeyboardInterrupt::new_err(msg),
        _ => LogpivotError::new_err(msg),
    }
}

/// Add the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("LogpivotError", py.get_type::<LogpivotError>())?;
    m.add("InvalidArgument", py.get_type::<InvalidArgument>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("StoreIOError", py.get_type::<StoreIOError>())?;
    m.add("CorruptStore", py.get_type::<CorruptStore>())?;
    Ok(())
}

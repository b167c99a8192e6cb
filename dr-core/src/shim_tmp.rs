//! TEMPORARY: stand-ins for APIs landing from a parallel branch; removed at merge.
#![allow(missing_docs, dead_code)]

pub(crate) struct AuditHead {
    pub seq: u64,
    pub hash: String,
}

impl crate::audit::AuditWriter {
    pub(crate) fn head(&self) -> std::io::Result<Option<AuditHead>> {
        Ok(None)
    }
}

impl crate::plan::Plan {
    pub fn env_values(&self) -> &[(String, String)] {
        &[]
    }
}

//! perouter RIB.

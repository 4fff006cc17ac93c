//! Datapath for perouter.

import Testing

/// Every integration test starts real processes of our binaries; they run one at a time (2 cores).
@Suite(.serialized) enum Integration {}

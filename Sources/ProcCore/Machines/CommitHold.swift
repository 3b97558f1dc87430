/// Whether the coordinator commits what an iteration changed now, or lets it wait for the next
/// iterations' changes to share one transaction (group commit across iterations).
///
/// One transaction per iteration costs SQLite's fixed work for each job when jobs finish one at a time
/// (/bin/true); held, one commit takes several. But a batch may wait only while nobody waits on it:
/// - nothing else is to be sent (a client's reply, a CANCEL, a WELCOME: all wait for the commit);
/// - every agent that runs are for still holds a run beyond its slots without them, so none runs dry;
/// - other runs are still in flight, whose ends can share the commit: with none, nothing would come to
///   share it, and a subscriber waiting for the last end would only wait longer;
/// and at most `holdMilliseconds` from when the holding began, or `maxHeldEvents` events.
public struct CommitHold: Sendable, Equatable {
    public let holdMilliseconds: Int64
    public static let maxHeldEvents = 2_000
    /// When the batch now held began to be held.
    public private(set) var heldSince: Int64?

    public init(holdMilliseconds: Int) { self.holdMilliseconds = Int64(holdMilliseconds) }

    /// What the batch at the end of an iteration waits on.
    public struct Batch: Sendable, Equatable {
        /// Something to commit (events, rows, runs to send, acknowledgements).
        public var hasChanges: Bool
        /// Replies or messages that may not wait.
        public var hasUrgentSends: Bool
        public var events: Int
        /// Every agent that runs are for can go on without them (it holds runs beyond its slots).
        public var agentsCanWait: Bool
        /// Some run is still going somewhere (its end may come to share the commit).
        public var runsInFlight: Bool

        public init(hasChanges: Bool, hasUrgentSends: Bool, events: Int, agentsCanWait: Bool, runsInFlight: Bool = true) {
            self.hasChanges = hasChanges
            self.hasUrgentSends = hasUrgentSends
            self.events = events
            self.agentsCanWait = agentsCanWait
            self.runsInFlight = runsInFlight
        }
    }

    public enum Decision: Sendable, Equatable {
        case commit
        /// Wait; `wakeAt` (the first time) is when the loop must come round to commit whatever happens.
        case hold(wakeAt: Int64?)
    }

    public mutating func decide(_ batch: Batch, now: Int64) -> Decision {
        guard holdMilliseconds > 0, batch.hasChanges, !batch.hasUrgentSends, batch.events < Self.maxHeldEvents,
            batch.agentsCanWait, batch.runsInFlight
        else {
            heldSince = nil
            return .commit
        }
        guard let since = heldSince else {
            heldSince = now
            return .hold(wakeAt: now + holdMilliseconds)
        }
        if now - since < holdMilliseconds { return .hold(wakeAt: nil) }
        heldSince = nil
        return .commit
    }

    /// The batch was committed some other way (a stop commits whatever is held).
    public mutating func committed() { heldSince = nil }
}

/// Whether a separate agent sends the results that ended now, or lets them wait up to `holdMilliseconds`
/// for the next ones to go in one RESULT: only while every slot is busy and the recent runs are short
/// (nothing of this agent waits on the coordinator then: a freed slot takes a held run), and at most
/// `maxHeld` results. A free slot, a longer run or a stop sends at once. A held result is on disk already,
/// like one sent and not yet acknowledged.
public struct ResultHold: Sendable, Equatable {
    public let holdMilliseconds: Int64
    public static let maxHeld = 64
    public private(set) var heldSince: Int64?

    public init(holdMilliseconds: Int) { self.holdMilliseconds = Int64(holdMilliseconds) }

    public enum Decision: Sendable, Equatable {
        case send
        /// Wait; `wakeAt` (the first time) is when the loop must come round to send them.
        case hold(wakeAt: Int64?)
    }

    public mutating func decide(unsent: Int, slotsBusy: Bool, runsAreShort: Bool, stopping: Bool, now: Int64) -> Decision {
        guard holdMilliseconds > 0, unsent > 0, !stopping, slotsBusy, runsAreShort, unsent < Self.maxHeld else {
            heldSince = nil
            return .send
        }
        guard let since = heldSince else {
            heldSince = now
            return .hold(wakeAt: now + holdMilliseconds)
        }
        if now - since < holdMilliseconds { return .hold(wakeAt: nil) }
        heldSince = nil
        return .send
    }
}

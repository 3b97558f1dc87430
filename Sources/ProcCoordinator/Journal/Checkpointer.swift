import Foundation
import GRDBSQLite

/// Copies the journal's WAL into the database on a thread and connection of its own.
///
/// SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL pages, on the writer's
/// thread, which is the coordinator's loop: 6% of the loop's samples while a million jobs are submitted
///. Here the writer's WAL hook only asks; this thread runs a PASSIVE checkpoint,
/// which never blocks the writer. Should the WAL still grow past `inlinePages` (the checkpoint cannot
/// keep up, or a reader holds old frames), the writer checkpoints in the hook itself, as SQLite would,
/// so the file stays bounded.
///
/// A checkpoint only lets the WAL start over from its beginning if it copied every frame before the
/// next commit came, which under steady commits it rarely does: each try syncs the WAL and the database
/// and copies the few frames committed meanwhile, and then the next commit asks again. Checkpointing back
/// to back like that from 1,000 pages on cost a third of the coordinator's CPU when jobs were submitted
/// one at a time. So below `catchUpPages` the thread pauses `pause` between
/// checkpoints, copying what accumulated; from there on it goes back to back until the WAL starts over.
final class Checkpointer: @unchecked Sendable {
    static let requestPages: Int32 = 1_000
    static let catchUpPages: Int32 = 8_000
    static let inlinePages: Int32 = 16_000
    static let pause: TimeInterval = 0.05

    private let connection: OpaquePointer
    private let condition = NSCondition()
    private var requested = false
    private var walPages: Int32 = 0  // at the latest request
    private var stopping = false
    private var thread: Thread?
    private let finished = DispatchSemaphore(value: 0)

    init(path: String) throws {
        var connection: OpaquePointer?
        let code = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(code)"
            sqlite3_close(connection)
            throw JournalError("cannot open \(path) for checkpoints: \(message)")
        }
        sqlite3_busy_timeout(connection, 1_000)
        // Opens the file in WAL mode (a connection that has not read yet checkpoints nothing).
        guard sqlite3_exec(connection, "PRAGMA journal_mode = WAL", nil, nil, nil) == SQLITE_OK else {
            let message = String(cString: sqlite3_errmsg(connection))
            sqlite3_close(connection)
            throw JournalError("cannot open \(path) for checkpoints: \(message)")
        }
        self.connection = connection
        let thread = Thread { [self] in run() }
        thread.name = "proc.journal.checkpoint"
        self.thread = thread
        thread.start()
    }

    /// Installs the hook on the writer connection (replacing SQLite's automatic checkpoint there). The
    /// hook holds this object unretained: `uninstall` before it goes.
    func install(on writer: OpaquePointer) {
        sqlite3_wal_hook(writer, { context, writer, database, pages in
            guard let context else { return SQLITE_OK }
            let checkpointer = Unmanaged<Checkpointer>.fromOpaque(context).takeUnretainedValue()
            if pages >= Checkpointer.inlinePages {
                _ = sqlite3_wal_checkpoint_v2(writer, database, SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            } else if pages >= Checkpointer.requestPages {
                checkpointer.request(walPages: pages)
            }
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    func uninstall(from writer: OpaquePointer) {
        sqlite3_wal_hook(writer, nil, nil)
    }

    func request(walPages: Int32) {
        condition.lock()
        self.walPages = walPages
        if !requested {
            requested = true
            condition.signal()
        }
        condition.unlock()
    }

    /// Ends the thread (within a second or the checkpoint in progress) and closes the connection.
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
        if thread != nil, finished.wait(timeout: .now() + 30) == .success {
            sqlite3_close(connection)
        }
        thread = nil
    }

    private func run() {
        defer { finished.signal() }
        while true {
            condition.lock()
            while !requested && !stopping {
                _ = condition.wait(until: Date(timeIntervalSinceNow: 1))
            }
            let stop = stopping
            requested = false
            let catchingUp = walPages >= Checkpointer.catchUpPages
            condition.unlock()
            if stop { return }
            _ = sqlite3_wal_checkpoint_v2(connection, "main", SQLITE_CHECKPOINT_PASSIVE, nil, nil)
            if !catchingUp {
                let until = Date(timeIntervalSinceNow: Checkpointer.pause)
                condition.lock()
                while !stopping && Date() < until { _ = condition.wait(until: until) }
                condition.unlock()
            }
        }
    }
}

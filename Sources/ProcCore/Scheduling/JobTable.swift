/// The coordinator's jobs, by id.
///
/// A job's id is "j" and its number (`ClusterState.jobID`), and numbers are handed out in order from 1,
/// so the table is an array indexed by number: finding a job reads the digits of its id instead of
/// hashing it, and the table grows by copying one block, not by rehashing every job. As a dictionary
/// keyed by id, growing to 200,000 jobs (312-byte records) took 0.5 s against 0.1 s this way, and a
/// million pending jobs took 901 MiB of the coordinator against 535 MiB.
///
/// An id of another form, or a number far past the end, is kept in a dictionary beside the array, so
/// any id works; this coordinator makes none.
public struct JobTable: Sendable {
    private var byNumber: [JobRecord?] = []
    /// `byNumber[i] != nil`, kept beside it: asking the Optional itself copies the record out first.
    private var present: [Bool] = []
    private var others: [JobID: JobRecord] = [:]
    public private(set) var count = 0

    /// How far past the end a number may land in the array (the rest go to the dictionary).
    public static let maxGap = 1 << 16

    public init() {}

    /// The array index of "j<number>", for an id in exactly that form (no sign, no leading zero).
    static func index(of id: JobID) -> Int? {
        var id = id
        return id.withUTF8 { bytes -> Int? in
            guard bytes.count >= 2, bytes.count <= 19, bytes[0] == UInt8(ascii: "j"), bytes[1] != UInt8(ascii: "0")
            else { return nil }
            var number = 0
            for byte in bytes[1...] {
                guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
                number = number * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return number - 1
        }
    }

    /// The number in "j<number>" (nil for an id of another form).
    public static func number(of id: JobID) -> UInt64? { index(of: id).map { UInt64($0 + 1) } }

    public subscript(id: JobID) -> JobRecord? {
        get {
            if let index = Self.index(of: id), index < byNumber.count, present[index] || others.isEmpty {
                return byNumber[index]
            }
            return others.isEmpty ? nil : others[id]
        }
        set {
            if let index = Self.index(of: id), index < byNumber.count + Self.maxGap {
                // One that was stored far past the end, before the array reached it, moves into the array.
                if !others.isEmpty, others.removeValue(forKey: id) != nil { count -= 1 }
                if index >= byNumber.count {
                    guard newValue != nil else { return }
                    present.append(contentsOf: repeatElement(false, count: index - byNumber.count + 1))
                    byNumber.append(contentsOf: repeatElement(nil, count: index - byNumber.count + 1))
                }
                let was = present[index]
                present[index] = newValue != nil
                byNumber[index] = newValue
                count += (newValue != nil ? 1 : 0) - (was ? 1 : 0)
            } else {
                let was = others[id] != nil
                others[id] = newValue
                count += (newValue != nil ? 1 : 0) - (was ? 1 : 0)
            }
        }
    }

    /// Room for jobs numbered up to `count` without growing (a restart knows how many it restores: growing
    /// by doubling copied every record about twice over).
    public mutating func reserveCapacity(_ count: Int) {
        byNumber.reserveCapacity(count)
        present.reserveCapacity(count)
    }

    /// `body` changes the job's record where it lies; nil if there is no such job. `var job = jobs[id]`, a
    /// change, then `jobs[id] = job` copies the whole record out and back (a few hundred bytes, a retain
    /// and a release per field): under the 1,000 simulated agents, with the getter's other copies, 8–10%
    /// of the coordinator's loop.
    public mutating func update<R>(_ id: JobID, _ body: (inout JobRecord) throws -> R) rethrows -> R? {
        if let index = Self.index(of: id), index < byNumber.count {
            if present[index] { return try body(&byNumber[index]!) }
            if others.isEmpty { return nil }
        }
        return others[id] == nil ? nil : try body(&others[id]!)
    }

    /// Every job: the numbered ones in order of number, then the others.
    public var values: Values { Values(table: self) }

    public struct Values: Sequence, Sendable {
        let table: JobTable

        public func makeIterator() -> Iterator {
            Iterator(numbered: table.byNumber.makeIterator(), others: table.others.values.makeIterator())
        }

        public struct Iterator: IteratorProtocol {
            var numbered: IndexingIterator<[JobRecord?]>
            var others: Dictionary<JobID, JobRecord>.Values.Iterator

            public mutating func next() -> JobRecord? {
                while let slot = numbered.next() {
                    if let job = slot { return job }
                }
                return others.next()
            }
        }
    }
}

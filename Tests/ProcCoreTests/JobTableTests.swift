import ProcCore
import Testing

@Suite struct JobTableTests {
    private func record(_ id: JobID, number: UInt64) -> JobRecord {
        JobRecord(id: id, number: number, spec: JobSpec(argv: ["true"]), submittedAt: 0)
    }

    @Test func findsJobsByTheirIdsAndCountsThem() {
        var table = JobTable()
        table["j1"] = record("j1", number: 1)
        table["j3"] = record("j3", number: 3)  // a gap: j2 was never stored
        #expect(table.count == 2)
        #expect(table["j1"]?.number == 1)
        #expect(table["j3"]?.number == 3)
        #expect(table["j2"] == nil)
        #expect(table["j4"] == nil)
        table["j3"]?.attempt = 2
        #expect(table["j3"]?.attempt == 2)
        #expect(table.count == 2)
        table["j1"] = nil
        #expect(table["j1"] == nil)
        #expect(table.count == 1)
        #expect(table.values.map(\.id) == ["j3"])
    }

    /// `update` finds what the subscript finds (numbered ids, other ids, ids in neither) and changes the
    /// stored record, not a copy.
    @Test func updateChangesTheStoredRecord() {
        var table = JobTable()
        table["j1"] = record("j1", number: 1)
        table["j3"] = record("j3", number: 3)
        table["build-7"] = record("build-7", number: 7)
        table["j01"] = record("j01", number: 1)  // not "j1": kept by its own id
        for id in ["j1", "j3", "build-7", "j01", "j2", "j4", "J1", ""] {
            #expect(table.update(id) { $0.id } == table[id]?.id, "\(id)")
        }
        #expect(table.update("j3") { job -> Int in
            job.attempt = 5
            return job.attempt
        } == 5)
        #expect(table.update("build-7") { $0.attempt = 9 } != nil)
        #expect(table.update("j2") { $0.attempt = 1 } == nil)
        #expect(table.update("nope") { $0.attempt = 1 } == nil)
        #expect(table["j3"]?.attempt == 5)
        #expect(table["build-7"]?.attempt == 9)
        #expect(table["j1"]?.attempt == 1)
        #expect(table["j01"]?.attempt == 1)
        #expect(table.count == 4)
        table["j3"] = nil
        #expect(table.update("j3") { $0.attempt = 1 } == nil)
        #expect(table.count == 3)
    }

    @Test func idsOfAnotherFormAreKeptAsThemselves() {
        var table = JobTable()
        table["j1"] = record("j1", number: 1)
        // Each of these names a different job from "j1" (or none): none may find it.
        for id in ["j01", "J1", "j", "", "j1x", "j-1", "j+1", "x1", "j0", "j99999999999999999999999"] {
            #expect(table[id] == nil, "\(id)")
        }
        table["j01"] = record("j01", number: 1)
        table["build-7"] = record("build-7", number: 7)
        #expect(table.count == 3)
        #expect(table["j01"]?.id == "j01")
        #expect(table["j1"]?.id == "j1")
        #expect(table["build-7"]?.number == 7)
        table["build-7"] = nil
        #expect(table.count == 2)
        #expect(Set(table.values.map(\.id)) == ["j1", "j01"])
    }

    @Test func aNumberFarPastTheEndDoesNotGrowTheTable() {
        var table = JobTable()
        table["j5000000000"] = record("j5000000000", number: 5_000_000_000)
        table["j2"] = record("j2", number: 2)
        #expect(table.count == 2)
        #expect(table["j5000000000"]?.number == 5_000_000_000)
        #expect(table.values.map(\.id) == ["j2", "j5000000000"])  // numbered ones first, in order
    }

    @Test func aJobStoredFarPastTheEndIsFoundOnceTheTableReachesIt() {
        var table = JobTable()
        let far = UInt64(JobTable.maxGap + 2)
        table[ClusterState.jobID(far)] = record(ClusterState.jobID(far), number: far)
        for number in 1...far {
            let id = ClusterState.jobID(number)
            if table[id] == nil { table[id] = record(id, number: number) }
        }
        // The array now reaches past it, while it is still kept beside the array.
        table[ClusterState.jobID(far + 1)] = record(ClusterState.jobID(far + 1), number: far + 1)
        #expect(table.count == Int(far) + 1)
        #expect(table[ClusterState.jobID(far)]?.number == far)
        table[ClusterState.jobID(far)]?.attempt = 3
        #expect(table[ClusterState.jobID(far)]?.attempt == 3)
        #expect(table.count == Int(far) + 1)
        #expect(table.values.filter { $0.number == far }.count == 1)
    }

    @Test func valuesComeInOrderOfNumber() {
        var table = JobTable()
        for number in (1...50).reversed() {
            let id = ClusterState.jobID(UInt64(number))
            table[id] = record(id, number: UInt64(number))
        }
        #expect(table.values.map(\.number) == Array(1...50))
        #expect(table.count == 50)
    }
}

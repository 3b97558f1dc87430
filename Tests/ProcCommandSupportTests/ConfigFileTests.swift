import ProcCommandSupport
import Testing

/// Config files are read strictly (issue 21): an unknown key, a wrong type or a number out of range is an
/// error that names the key, says what was expected and suggests the key meant.
@Suite struct ConfigFileTests {
    func problem(_ text: String) -> String? {
        do {
            _ = try ConfigFile.parse(text, path: "test.toml")
            return nil
        } catch {
            #expect(error.exitCode == 64)
            return error.description
        }
    }

    @Test func theExamplesParse() throws {
        let file = try ConfigFile.parse("""
            [coordinator]
            listen = "tcp://*:5555"
            kill_grace_seconds = 5
            reconnect_grace_seconds = 0.5
            [agent]
            slots = 4
            [agent.labels]
            gpu = "1"
            [client]
            coordinator = "127.0.0.1:5555"
            [queues.render]
            max_running = 3
            """, path: "test.toml")
        #expect(file.coordinator?.listen == "tcp://*:5555")
        #expect(file.coordinator?.killGraceSeconds == 5)
        #expect(file.coordinator?.reconnectGraceSeconds == 0.5)
        #expect(file.agent?.slots == 4)
        #expect(file.agent?.labels == ["gpu": "1"])
        #expect(file.client?.coordinator == "127.0.0.1:5555")
        #expect(file.queueLimits == ["render": 3])
    }

    @Test func aWrongTypeSaysWhichTypeWasExpected() {
        #expect(problem("[coordinator]\nlisten = 5")
            == "config file test.toml: [coordinator] listen must be a string, not an integer")
        #expect(problem("[agent]\nslots = \"4\"")
            == "config file test.toml: [agent] slots must be an integer, not a string")
        #expect(problem("coordinator = 1") == "config file test.toml: coordinator must be a table ([coordinator]), not an integer")
    }

    @Test func unknownKeysAreRefusedWithTheNearestOne() {
        #expect(problem("[coordinator]\nheartbeat_msec = 100")
            == "config file test.toml: unknown key 'heartbeat_msec' in [coordinator]; did you mean 'heartbeat_ms'?")
        #expect(problem("[agnet]\nslots = 1")
            == "config file test.toml: unknown key 'agnet' at the top level; did you mean 'agent'?")
        #expect(problem("[queues.render]\nmax_runing = 3")?.contains("did you mean 'max_running'?") == true)
    }

    @Test func numbersAreCheckedAgainstTheirRanges() {
        #expect(problem("[coordinator]\nkill_grace_seconds = nan")?.contains("must be a finite number") == true)
        #expect(problem("[coordinator]\nkill_grace_seconds = inf")?.contains("must be a finite number") == true)
        #expect(problem("[coordinator]\nreconnect_grace_seconds = 1e30")?.contains("between 0 and 86400") == true)
        #expect(problem("[agent]\nslots = 9223372036854775807")?.contains("between 1 and 10000") == true)
        #expect(problem("[agent]\nprefetch = -1")?.contains("[agent] prefetch must be between 0 and 1000") == true)
        #expect(problem("[coordinator]\ncommit_hold_ms = 1000")?.contains("between 0 and 100") == true)
    }

    @Test func syntaxErrorsSayWhere() {
        #expect(problem("[coordinator\nlisten = 1")?.contains("line 1") == true)
    }
}

@Suite struct ArgumentRunsTests {
    @Test func longRunsAreFoldedAndPutBack() {
        let ids = (1...1_000).map { "j\($0)" }
        let folded = ArgumentRuns.compact(["wait", "--timeout", "5"] + ids + ["--quiet"])
        #expect(folded.count < 10)
        #expect(folded.prefix(3) == ["wait", "--timeout", "5"])
        #expect(folded.last == "--quiet")
        // What the parser would hand back as the positional array: everything plain after the option's value.
        let positional = Array(folded.dropFirst(3).dropLast())
        #expect(ArgumentRuns.expand(positional) == ids)
    }

    @Test func shortCommandLinesAreUntouched() {
        let arguments = ["submit", "--", "sh", "-c", "echo hi", "a", "b"]
        #expect(ArgumentRuns.compact(arguments) == arguments)
        #expect(ArgumentRuns.expand(["a", "b"]) == ["a", "b"])
    }
}

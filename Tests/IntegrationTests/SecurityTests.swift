import Foundation
import Glibc
import Proc
import ProcClient
import ProcCore
import Testing

extension Integration {
    /// Issue 4: CURVE on every socket, a ZAP handler mapping keys to roles, secure defaults.
    @Suite struct Security {
        @Test func anAuthorizedAgentRunsJobsAndStrangersGetNothing() async throws {
            let cluster = try TestCluster(agents: [["--name", "trusted"]], secure: true)
            defer { cluster.stop() }
            let id = try cluster.submit("--", "sh", "-c", "echo hi")
            #expect(try cluster.proc("wait", id).code == 0)
            #expect(try cluster.status(id) == .completed)

            // A key the coordinator does not know: told at once that it was refused (not a timeout).
            let stranger = try cluster.makeKey("stranger", role: "client", authorize: false)
            for command in [["status"], ["submit", "--", "true"], ["events", "--no-follow"]] {
                var arguments = command
                arguments.insert(contentsOf: cluster.keyArguments(stranger), at: 1)
                let result = try cluster.procArgs(arguments, timeout: 30)
                #expect(result.code == 2, "\(command): \(result.stdout) \(result.stderr)")
                #expect(result.stderr.contains("refused this key"), "\(command): \(result.stderr)")
            }
            // No keys at all, and the wrong coordinator key.
            let bare = try run(binary("proc"), ["status", "--coordinator", cluster.control], timeout: 30)
            #expect(bare.code == 2 && bare.stderr.contains("requires CURVE keys"), "\(bare.stderr)")
            let wrongServer = try cluster.procArgs(
                ["status", "--cert", cluster.keysDirectory + "/client.key_secret",
                 "--coordinator-key", cluster.keysDirectory + "/client.key"], timeout: 30)
            #expect(wrongServer.code == 2 && wrongServer.stderr.contains("handshake"), "\(wrongServer.stderr)")

            // An agent with an unknown key cannot join: it stops with exit code 4 and is never listed.
            let intruderKey = try cluster.makeKey("intruder", role: "agent", authorize: false)
            let intruder = try cluster.addAgent(["--name", "intruder"] + cluster.keyArguments(intruderKey))
            let code = intruder.waitForExit(timeout: 20)
            #expect(code == 4, "intruder agent: \(intruder.stderr)")
            #expect(intruder.stderr.contains("refused this key"))
            #expect(try cluster.agentNames() == ["trusted"])

            // The refusals were counted and logged (rate-limited), and the coordinator still serves.
            #expect(cluster.coordinator.stderr.contains("why=unknown key"))
            #expect(try cluster.proc("wait", try cluster.submit("--", "true")).code == 0)
        }

        /// The Swift API with keys: a worker runs; a refused key fails at once with `unauthorized`.
        @Test func swiftAPIWithKeys() async throws {
            let cluster = try TestCluster(agents: [["--name", "a1"]], secure: true)
            defer { cluster.stop() }
            let app = try cluster.makeKey("app", role: "client")
            let proc = try await ProcCluster.connect(cluster.control, certificate: app,
                                                     coordinatorKey: cluster.keysDirectory + "/coordinator.key")
            let worker = proc.createWorker(command: ["sh", "-c", "echo '{\"result\": 42}' >&3"])
            try await worker.start()
            let (status, result) = try await worker.join(timeout: 30)
            #expect(status == .completed && result == .int(42))
            await proc.shutdown()

            let stranger = try cluster.makeKey("stranger-app", role: "client", authorize: false)
            await #expect(throws: ProcClientError.self) {
                _ = try await ProcCluster.connect(cluster.control, certificate: stranger,
                                                  coordinatorKey: cluster.keysDirectory + "/coordinator.key")
            }
        }

        /// Single-host mode with keys: the built-in agent talks over inproc (no handshake) and runs jobs;
        /// network peers still need keys.
        @Test func singleHostModeWithKeys() async throws {
            let cluster = try TestCluster(standaloneSlots: 1, secure: true)
            defer { cluster.stop() }
            #expect(try cluster.proc("wait", try cluster.submit("--", "true")).code == 0)
            let bare = try run(binary("proc"), ["status", "--coordinator", cluster.control], timeout: 30)
            #expect(bare.code == 2 && bare.stderr.contains("requires CURVE keys"), "\(bare.stderr)")
        }

        @Test func anObserverReadsButCannotChangeAnything() async throws {
            let cluster = try TestCluster(agents: [["--name", "a1"]], secure: true)
            defer { cluster.stop() }
            let id = try cluster.submit("--", "true")
            #expect(try cluster.proc("wait", id).code == 0)
            let observer = cluster.keyArguments(try cluster.makeKey("watcher", role: "observer"))

            #expect(try cluster.procArgs(["status", id] + observer).code == 0)
            #expect(try cluster.procArgs(["result", id] + observer).code == 0)
            #expect(try cluster.procArgs(["agents"] + observer).code == 0)
            #expect(try cluster.procArgs(["queue"] + observer).code == 0)
            let events = try cluster.procArgs(["events", "--no-follow", "--json"] + observer, timeout: 30)
            #expect(events.code == 0 && events.stdout.contains("\"job.completed\""))

            for command in [["submit", "--", "true"], ["cancel", id], ["queue", "render", "--max-running", "2"]] {
                var arguments = command
                arguments.insert(contentsOf: observer, at: 1)
                let denied = try cluster.procArgs(arguments)
                #expect(denied.code == 1, "\(command): \(denied.stdout)")
                #expect(denied.stderr.contains("not allowed for the role 'observer'"), "\(command): \(denied.stderr)")
            }
            // The folder decides, not the metadata its maker wrote: a "client" key put in observer/ reads only.
            try FileManager.default.createDirectory(atPath: cluster.authorizedDirectory + "/observer",
                                                    withIntermediateDirectories: true)
            let selfPromoted = try cluster.makeKey("self-promoted", role: "client", authorize: false)
            try FileManager.default.copyItem(atPath: cluster.keysDirectory + "/self-promoted.key",
                                             toPath: cluster.authorizedDirectory + "/observer/self-promoted.key")
            let demoted = try cluster.procArgs(["submit"] + cluster.keyArguments(selfPromoted) + ["--", "true"])
            #expect(demoted.code == 1 && demoted.stderr.contains("role 'observer'"), "\(demoted.stderr)")

            // An observer key cannot join as an agent either.
            let agent = try cluster.addAgent(["--name", "sneaky"] + observer)
            #expect(agent.waitForExit(timeout: 20) == 4, "\(agent.stderr)")
            #expect(agent.stderr.contains("only agent keys may join"), "\(agent.stderr)")
        }

        @Test func aRemovedKeyIsRefusedWithoutARestart() async throws {
            let cluster = try TestCluster(agents: [["--name", "a1"]], secure: true)
            defer { cluster.stop() }
            let carol = try cluster.makeKey("carol", role: "client")
            #expect(try cluster.procArgs(["status"] + cluster.keyArguments(carol)).code == 0)
            let pid = cluster.coordinator.pid

            // A certificate overwritten with something unreadable (a copy in progress, a mistake) keeps the
            // key it had: nothing is revoked by accident.
            let carolPath = cluster.authorizedDirectory + "/carol.key"
            let good = try String(contentsOfFile: carolPath, encoding: .utf8)
            try "metadata\ncurve\n    public-key = \"trunc".write(toFile: carolPath, atomically: false, encoding: .utf8)
            kill(cluster.coordinator.pid, SIGHUP)
            #expect(try eventually(timeout: 10) { cluster.coordinator.stderr.contains("keeping its previous key") })
            #expect(try cluster.procArgs(["status"] + cluster.keyArguments(carol)).code == 0)
            try good.write(toFile: carolPath, atomically: true, encoding: .utf8)

            // Removing the certificate: carol's next request is refused (re-read within a second).
            try FileManager.default.removeItem(atPath: cluster.authorizedDirectory + "/carol.key")
            #expect(try eventually(timeout: 20) {
                let result = try cluster.procArgs(["status"] + cluster.keyArguments(carol))
                return result.code == 2 && result.stderr.contains("refused this key")
            })
            // The agent's key too: the coordinator tells it, it stops with exit code 4, agent.left follows.
            let agentKeys = try FileManager.default.contentsOfDirectory(atPath: cluster.authorizedDirectory)
                .filter { $0.hasPrefix("agent-") }
            #expect(agentKeys.count == 1)
            for key in agentKeys { try FileManager.default.removeItem(atPath: cluster.authorizedDirectory + "/" + key) }
            #expect(cluster.agents[0].waitForExit(timeout: 20) == 4, "\(cluster.agents[0].stderr)")
            let left = try await cluster.history().filter { $0.type == .agentLeft }
            #expect(left.last?.reason?.contains("no longer authorized") == true)

            // Put back under a role folder, and SIGHUP: accepted again. Same coordinator process throughout.
            try FileManager.default.createDirectory(atPath: cluster.authorizedDirectory + "/client",
                                                    withIntermediateDirectories: true)
            let plain = try Self.stripMetadata(cluster.keysDirectory + "/carol.key")
            try plain.write(toFile: cluster.authorizedDirectory + "/client/carol.key", atomically: true, encoding: .utf8)
            kill(cluster.coordinator.pid, SIGHUP)
            #expect(try eventually(timeout: 20) { try cluster.procArgs(["status"] + cluster.keyArguments(carol)).code == 0 })
            #expect(cluster.coordinator.pid == pid && cluster.coordinator.poll() == nil)
        }

        /// A certificate as a tool without metadata writes it (the role then comes from the folder).
        static func stripMetadata(_ path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
                .filter { !$0.contains("role =") }.joined(separator: "\n") + "\n"
        }

        static let python = "/usr/bin/python3"
        static var pyzmqAvailable: Bool {
            (try? run(python, ["-c", "import zmq.auth"], timeout: 30).code) == 0
        }

        /// Certificates made by pyzmq's zmq.auth.create_certificates, used as they are; and a Python SUB
        /// socket with CURVE reads the feed (any language with a ZeroMQ library).
        @Test(.enabled(if: pyzmqAvailable)) func pyzmqCertificatesWorkAsTheyAre() async throws {
            let keys = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: keys) }
            let made = try run(Self.python, ["-c", """
                import os, sys, zmq.auth
                d = sys.argv[1]
                for sub in ("auth/agent", "auth/client"): os.makedirs(os.path.join(d, sub))
                zmq.auth.create_certificates(d, "server")
                zmq.auth.create_certificates(os.path.join(d, "auth/agent"), "worker")
                zmq.auth.create_certificates(os.path.join(d, "auth/client"), "user")
                """, keys])
            #expect(made.code == 0, "\(made.stderr)")
            let cluster = try TestCluster(coordinatorArguments: [
                "--cert", keys + "/server.key_secret", "--authorized-keys", keys + "/auth"])
            defer { cluster.stop() }
            #expect(cluster.coordinator.stderr.contains("keys.agent=1 keys.client=1"))
            let client = ["--cert", keys + "/auth/client/user.key_secret", "--coordinator-key", keys + "/server.key"]
            try cluster.addAgent(["--name", "py", "--cert", keys + "/auth/agent/worker.key_secret",
                                  "--coordinator-key", keys + "/server.key"])
            #expect(try eventually(timeout: 20) { try cluster.procArgs(["agents"] + client).stdout.contains("py") })

            let subscriber = try TestProcess(Self.python, ["-c", """
                import sys, zmq, zmq.auth
                d, endpoint = sys.argv[1], sys.argv[2]
                public, secret = zmq.auth.load_certificate(d + "/auth/client/user.key_secret")
                server, _ = zmq.auth.load_certificate(d + "/server.key")
                sub = zmq.Context().socket(zmq.SUB)
                sub.curve_publickey, sub.curve_secretkey, sub.curve_serverkey = public, secret, server
                sub.setsockopt(zmq.SUBSCRIBE, b"job.completed")
                sub.connect(endpoint)
                print("subscribed", flush=True)
                while sub.poll(60000):
                    topic, body = sub.recv_multipart()
                    print(topic.decode(), body.decode(), flush=True)
                """, keys, cluster.eventsEndpoint], directory: keys)
            defer { subscriber.terminate(signal: SIGKILL) }
            #expect(subscriber.waitForOutput("subscribed"))
            // A SUB socket sees nothing until its subscription reaches the publisher: probe jobs until it
            // sees one.
            var live = false
            for _ in 0..<40 where !live {
                let probe = try cluster.procArgs(["submit"] + client + ["--wait", "--", "true"])
                let probeID = probe.stdout.split(separator: "\n").first.map(String.init) ?? ""
                live = subscriber.waitForOutput("\"job_id\":\"\(probeID)\"", timeout: 0.5)
            }
            #expect(live, "python subscriber: \(subscriber.stdout) \(subscriber.stderr)")
            let submitted = try cluster.procArgs(["submit"] + client + ["--", "sh", "-c", "echo from-pyzmq-keys"])
            let id = submitted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(try cluster.procArgs(["wait", id] + client).code == 0)
            #expect(subscriber.waitForOutput("job.completed"), "python subscriber: \(subscriber.stdout) \(subscriber.stderr)")
            #expect(subscriber.stdout.contains("\"job_id\":\"\(id)\""))
        }

        @Test func networkAddressesNeedCurveOrInsecure() async throws {
            let directory = try makeTemporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let refused = try run(binary("proc-coordinator"), [
                "start", "--listen", "tcp://0.0.0.0:0", "--events", "tcp://127.0.0.1:*", "--data-dir", directory + "/d1"])
            #expect(refused.code == 2)
            #expect(refused.stderr.contains("refusing to listen on tcp://0.0.0.0:0 without CURVE"), "\(refused.stderr)")
            // Names and wildcards are network addresses too.
            for endpoint in ["tcp://localhost:0", "tcp://[::]:0"] {
                let sneaky = try run(binary("proc-coordinator"), [
                    "start", "--listen", endpoint, "--events", "tcp://127.0.0.1:*", "--data-dir", directory + "/d3"])
                #expect(sneaky.code == 2 && sneaky.stderr.contains("refusing to listen"), "\(endpoint): \(sneaky.stderr)")
            }
            // libzmq's "source;destination" form is refused before that, as an address it does not take.
            let sourced = try run(binary("proc-coordinator"), [
                "start", "--listen", "tcp://127.0.0.1:1;0.0.0.0:0", "--events", "tcp://127.0.0.1:*", "--data-dir",
                directory + "/d3"])
            #expect(sourced.code == 64 && sourced.stderr.contains("source;destination"), "\(sourced.stderr)")

            // --insecure: allowed, and said loudly: the log, the ready line, INFO and agent.joined.
            let cluster = try TestCluster(agents: [["--name", "a1"]], coordinatorArguments: ["--insecure"])
            defer { cluster.stop() }
            #expect(cluster.coordinator.stdout.contains("security=local"))  // loopback endpoints: nothing to warn
            let open = try TestProcess(binary("proc-coordinator"), [
                "start", "--insecure", "--listen", "tcp://0.0.0.0:*", "--events", "tcp://0.0.0.0:*",
                "--data-dir", directory + "/d2"], directory: directory)
            defer { open.terminate() }
            #expect(open.waitForOutput("ready control="))
            #expect(open.stdout.contains("security=insecure"))
            #expect(open.stderr.contains("INSECURE"))
            let port = open.stdout.split(separator: " ").first { $0.hasPrefix("control=") }!.split(separator: ":").last!
            let agent = try TestProcess(binary("proc-agent"), ["join", "127.0.0.1:\(port)", "--name", "open-agent",
                                                                "--data-dir", directory + "/a"], directory: directory)
            defer { agent.terminate() }
            #expect(try eventually(timeout: 20) {
                try run(binary("proc"), ["agents", "--coordinator", "127.0.0.1:\(port)"]).stdout.contains("open-agent")
            })
            let joined = try run(binary("proc"), [
                "events", "--json", "--no-follow", "--topic", "agent.joined", "--coordinator", "127.0.0.1:\(port)"])
            #expect(joined.stdout.contains("\"security\":\"insecure\""), "\(joined.stdout)")
            let status = try run(binary("proc"), ["status", "--coordinator", "127.0.0.1:\(port)"])
            #expect(status.stdout.contains("WARNING: this coordinator was started with --insecure"), "\(status.stdout)")
        }
    }
}

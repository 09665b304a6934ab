import Testing
import TitanProtocol
@testable import TitanMaster

@Suite("SchedulerActor.validate")
struct ValidateTests {
    private func problem(_ spec: JobSpec) -> String? {
        SchedulerActor.validate(spec)
    }

    @Test("a well-formed spec passes")
    func valid() {
        #expect(problem(JobSpec(command: ["echo", "hello world", "ünïcødé", "a|b", ""])) == nil)
        #expect(problem(JobSpec(command: ["/bin/sh", "-c", "exit 0"],
                                environment: ["PATH": "/bin", "EMPTY": "", "WITH_EQUALS": "a=b=c"],
                                workingDirectory: "/tmp", requirements: ["GPU", "HIGH_MEM"],
                                priority: -5, name: "x"))
            == nil)
    }

    @Test("an empty command names the command field")
    func emptyCommand() throws {
        let message = try #require(problem(JobSpec(command: [])))
        #expect(message.contains("'command'"))
        #expect(message.contains("empty"))
    }

    @Test("an empty program name names command[0]")
    func emptyProgram() throws {
        let message = try #require(problem(JobSpec(command: ["", "arg"])))
        #expect(message.contains("'command[0]'"))
        #expect(message.contains("empty"))
    }

    @Test("a NUL byte in an argument names its index", arguments: [0, 1, 3])
    func nulInArgument(index: Int) throws {
        var command = ["prog", "a", "b", "c"]
        command[index] = "x\u{0}y"
        let message = try #require(problem(JobSpec(command: command)))
        #expect(message.contains("'command[\(index)]'"))
        #expect(message.contains("NUL"))
    }

    @Test("a NUL byte in an environment value names the variable")
    func nulInEnvValue() throws {
        let message = try #require(problem(JobSpec(command: ["true"], environment: ["TOKEN": "a\u{0}b"])))
        #expect(message.contains("'environment[TOKEN]'"))
        #expect(message.contains("NUL"))
    }

    @Test("bad environment variable names are rejected and quoted",
          arguments: ["", "A=B", "=", "NUL\u{0}NAME"])
    func badEnvName(name: String) throws {
        let message = try #require(problem(JobSpec(command: ["true"], environment: [name: "v"])))
        #expect(message.contains("'environment'"))
        #expect(message.contains("invalid variable name '\(name)'"))
    }

    @Test("bad capability tags are rejected and quoted", arguments: ["", "GPU,HIGH_MEM", ","])
    func badTag(tag: String) throws {
        let message = try #require(problem(JobSpec(command: ["true"], requirements: ["GPU", tag])))
        #expect(message.contains("'requirements'"))
        #expect(message.contains("invalid capability tag '\(tag)'"))
    }

    @Test("the command is checked before the environment and the requirements")
    func order() throws {
        let message = try #require(problem(JobSpec(command: [], environment: ["": "x"], requirements: [""])))
        #expect(message.contains("'command'"))
    }

    @Test("durations past a year and absurd retry counts are refused, naming the field",
          arguments: ["delayMs", "retryDelayMs", "timeoutMs"])
    func hugeDurations(field: String) throws {
        var spec = JobSpec(command: ["true"])
        switch field {
        case "delayMs": spec.delayMs = UInt64.max
        case "retryDelayMs": spec.retryDelayMs = 366 * 86_400 * 1_000
        default: spec.timeoutMs = UInt64.max
        }
        let message = try #require(problem(spec))
        #expect(message.contains("'\(field)'"))
        #expect(problem(JobSpec(command: ["true"], retryDelayMs: 365 * 86_400 * 1_000, timeoutMs: 1, delayMs: 0)) == nil)
    }

    @Test("retries are bounded")
    func retries() throws {
        #expect(problem(JobSpec(command: ["true"], retries: 10_000)) == nil)
        #expect(try #require(problem(JobSpec(command: ["true"], retries: UInt32.max))).contains("'retries'"))
    }

    @Test("a service job's own fields are named service.FIELD; a gate and a service at once is refused")
    func serviceJobs() throws {
        #expect(problem(JobSpec(command: ["srv"], service: ServiceOptions(port: 0, health: "tcp", replicas: 3))) == nil)
        let restart = try #require(problem(JobSpec(command: ["srv"], service: ServiceOptions(restart: "sometimes"))))
        #expect(restart.contains("field 'service.restart'"))
        let replicas = try #require(problem(JobSpec(command: ["srv"], service: ServiceOptions(replicas: 0))))
        #expect(replicas.contains("field 'service.replicas'"))
        #expect(problem(JobSpec(command: ["srv"], service: ServiceOptions(port: 8080, replicas: 2))) == nil)
        let name = try #require(problem(JobSpec(command: ["srv"], service: ServiceOptions(name: "a#b"))))
        #expect(name.contains("field 'service.name'"))
        let command = try #require(problem(JobSpec(command: [], service: ServiceOptions())))
        #expect(command.contains("field 'command'"))
        let both = try #require(problem(JobSpec(command: ["x"], gate: GateSpec(message: "ok?"), service: ServiceOptions())))
        #expect(both.contains("a gate or a service, not both"))
        let retried = try #require(problem(JobSpec(command: ["srv"], retries: 2, service: ServiceOptions())))
        #expect(retried.contains("field 'retries'"))
    }
}

import Foundation

/// Our own pipelines of the same keys and shapes as the original Titan project's example
/// pipelines (its YAML schema: `name`, `version`, `project`, `jobs` with `id`, `type`, `file`,
/// `args`, `depends_on`, `requirement`, `priority`, `delay`, `affinity`, `port`, `hitl_message`,
/// `max_wait_seconds`), with scripts that print what they did. Loaded by OriginalPipelineTests,
/// run end to end by PipelineCLITests.
///
/// - `diamond.yaml`: root, two branches, a sink (`version: "1.0"`, `project: true`).
/// - `fan.yaml`: one trigger, three parts with string `args`, a reducer after all of them.
/// - `routing.yaml`: `requirement: GENERAL` then `GPU`, with priorities; no `version`.
/// - `service.yaml`: a lone `type: service` job with a fixed `port` and `args`; no `name`.
/// - `comprehensive.yaml`: `priority`, `delay` (seconds), `affinity: true`, then a service.
/// - `gated.yaml`: `hitl_message` with `max_wait_seconds` on a job.
public enum OriginalTitanExamples {
    /// The pipeline files, in the order they are written.
    public static let pipelines = ["diamond.yaml", "fan.yaml", "routing.yaml", "service.yaml", "comprehensive.yaml", "gated.yaml"]

    /// Writes the pipelines and the scripts they name under `directory`. `servicePort` is the
    /// fixed port of the service steps (9000 in the original's examples).
    public static func write(in directory: String, servicePort: Int = 9000) throws {
        func file(_ name: String, _ text: String) throws {
            let path = "\(directory)/\(name)"
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        }
        try file("scripts/init.py", "import sys\nprint(' '.join(['init'] + sys.argv[1:]))\n")
        try file("src/processor.py", """
            import os, sys
            print('processed', ' '.join(sys.argv[1:]) or '-', 'on', os.environ.get('TITAN_WORKER_ID', '?'))
            """)
        try file("src/reducer.py", "import sys\nprint(' '.join(['reduced'] + sys.argv[1:]))\n")
        try file("src/server.py", """
            import http.server, os
            port = int(os.environ.get('PORT', '9000'))  # the worker passes a service's port
            http.server.HTTPServer(('127.0.0.1', port), http.server.SimpleHTTPRequestHandler).serve_forever()
            """)
        try file("preprocess.py", "print('data ready')\n")
        try file("train_model.py", "import os\nprint('trained on', os.environ.get('TITAN_WORKER_ID', '?'))\n")
        try file("diamond.yaml", """
            name: "diamond-style"
            version: "1.0"
            project: true

            jobs:
              - id: "root"
                type: "run"
                file: "scripts/init.py"
              - id: "left"
                type: "run"
                file: "src/processor.py"
                depends_on: ["root"]
              - id: "right"
                type: "run"
                file: "src/processor.py"
                depends_on: ["root"]
              - id: "sink"
                type: "run"
                file: "scripts/init.py"
                depends_on: ["left", "right"]
            """)
        try file("fan.yaml", """
            name: "fan-style"
            version: "1.0"
            project: true

            jobs:
              - id: "start"
                type: "run"
                file: "scripts/init.py"
                args: "GO"
              - id: "part-1"
                type: "run"
                file: "src/processor.py"
                args: "CHUNK_1"
                depends_on: ["start"]
              - id: "part-2"
                type: "run"
                file: "src/processor.py"
                args: "CHUNK_2"
                depends_on: ["start"]
              - id: "part-3"
                type: "run"
                file: "src/processor.py"
                args: "CHUNK_3"
                depends_on: ["start"]
              - id: "reduce"
                type: "run"
                file: "src/reducer.py"
                args: "ALL"
                depends_on: ["part-1", "part-2", "part-3"]
            """)
        try file("routing.yaml", """
            name: "Routing_Project"
            project: true  # zips the folder

            jobs:
              - id: "Prep_Step"
                type: "run"
                file: "preprocess.py"
                requirement: "GENERAL"
                priority: 1

              - id: "Train_Step"
                type: "run"
                file: "train_model.py"
                depends_on: ["Prep_Step"]
                requirement: "GPU"
                priority: 10
            """)
        try file("service.yaml", """
            jobs:
              - id: "Web_Backend"
                type: "service"
                file: "src/server.py"
                port: \(servicePort)
                args: "--bind 127.0.0.1"
            """)
        try file("comprehensive.yaml", """
            name: "comprehensive-style"
            version: "1.0"
            project: true  # archive mode

            jobs:
              # a high priority task
              - id: "first"
                type: "run"
                file: "scripts/init.py"
                priority: 10
                args: "--mode reset"

              # a delayed one
              - id: "second"
                type: "run"
                file: "src/processor.py"
                args: "FETCH"
                delay: 2
                depends_on:
                  - "first"

              # sticky: on the worker that ran 'second'
              - id: "third"
                type: "run"
                file: "src/processor.py"
                args: "PROCESS"
                affinity: true
                depends_on:
                  - "second"

              # a long-running service
              - id: "fourth"
                type: "service"
                file: "src/server.py"
                port: \(servicePort)
                depends_on:
                  - "third"
            """)
        try file("gated.yaml", """
            name: "gated-style"
            version: "1.0"
            project: true

            jobs:
              - id: "prepare"
                type: "run"
                file: "preprocess.py"
                hitl_message: "Data looks good? Approve to train."
                max_wait_seconds: 3600
              - id: "train"
                type: "run"
                file: "train_model.py"
                depends_on: ["prepare"]
            """)
    }
}

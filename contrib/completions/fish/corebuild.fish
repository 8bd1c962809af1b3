# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_corebuild_global_optspecs
    string join \n h/help V/version
end

function __fish_corebuild_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_corebuild_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_corebuild_using_subcommand
    set -l cmd (__fish_corebuild_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c corebuild -n "__fish_corebuild_needs_command" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_needs_command" -s V -l version -d 'Print version'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "serve" -d 'Run the worker (what `corebuild` alone does, configured from the environment)'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "completions" -d 'Print the completion script of a shell on stdout (the package installs them)'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "manpage" -d 'Print the manual page of corebuild, or of one subcommand, in roff on stdout'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "capabilities" -d 'Show what the worker offers and how loaded it is'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "submit" -d 'Submit a job from a JSON file: the job object, or `{"job": {...}}` as the API takes it'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "status" -d 'Show one job'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "jobs" -d 'List the retained jobs, newest first'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "logs" -d 'Print a job\'s log'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "cancel" -d 'Cancel a queued, running or uploading job'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "workers" -d 'List the live workers: standalone the worker itself, in a fleet every worker'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "pause" -d 'Pause the worker: its running jobs finish, it starts nothing new until resumed'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "resume" -d 'Resume a paused worker'
complete -c corebuild -n "__fish_corebuild_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l port -d 'HTTP port to listen on' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l bind -d 'Address to listen on' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l token -d 'Shared token required by the job endpoints; unset (or empty) means no check' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l protected-mode -d 'Without a token and listening beyond loopback, answer job routes only to clients on this host (`false`: answer everyone, for a trusted private network)' -r -f -a "true\t''
false\t''"
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l tls-cert -d 'PEM certificate chain: with COREBUILD_TLS_KEY, the API is served over HTTPS (both read again on SIGHUP)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l tls-key -d 'PEM private key of COREBUILD_TLS_CERT' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l workdir -d 'Folder for job workspaces; created at start-up when missing' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l advertise-url -d 'The URL other hosts reach this worker\'s API at, shown in the fleet view [default: http(s)://<hostname>:<port>, or the bound address when it is specific]' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l worker-id -d 'Worker id reported in capabilities [default: <hostname>-<pid>]' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l iso-creator-command -d 'The image builder\'s command line, split into words like a shell would' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l builder-env -d 'More variables the builder gets from the worker\'s environment, comma-separated (it always gets PATH, LANG, LC_ALL, TZ and the proxy variables; never COREBUILD_*)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l max-concurrency -d 'Jobs run at once [default: sized from CPU cores and memory]' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l cpus-per-job -d 'CPU cores one job needs, for sizing the executor pool' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l memory-gb-per-job -d 'GiB of memory one job needs, for sizing the executor pool' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l queue-capacity -d 'Jobs that may wait for a free executor (running jobs not counted)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l queue-timeout-secs -d 'Longest wait of a queued job, in seconds: past it the job ends as `queue_timeout` (0: no limit)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l architectures -d 'Architectures this worker builds, comma-separated (amd64, arm64, rpi)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l image-kinds -d 'Image kinds this worker builds, comma-separated (ubuntu-iso, balena-raw)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l job-timeout-secs -d 'Time limit of one job, in seconds' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l job-retention-secs -d 'How long finished jobs stay queryable, in seconds' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l max-retained-jobs -d 'At most this many finished jobs are kept in memory' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l log-lines -d 'Log lines kept per job' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l log-bytes -d 'Log text all retained jobs keep together (`256MiB`, `1GB` or bytes); past it the oldest lines of the oldest finished jobs go first' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l shutdown-grace-secs -d 'Seconds running jobs get to finish after SIGTERM/SIGINT' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l upload-part-size -d 'Multipart upload part size (`16MiB`, `8MB` or bytes; 5 MiB to 5 GiB)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l upload-concurrency -d 'Parts of one upload in flight at once' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l upload-unsigned-payload -d 'Send part payloads unsigned (`true`) or signed (`false`) [default: unsigned over TLS, where the channel protects the body; signed over plain HTTP]' -r -f -a "true\t''
false\t''"
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l upload-max-retries -d 'Retries of one upload request on transient errors (5xx, time-outs, resets)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l body-timeout-secs -d 'Seconds a request body may take to arrive; a slower client gets 408' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l max-body-bytes -d 'Largest accepted request body (`1MiB`, `64KB` or bytes)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-url -d 'NATS servers, comma-separated (`nats://…` or `tls://…`): set, the worker joins a fleet sharing one job queue on JetStream (cluster mode, docs/cluster.md)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-ca-file -d 'CA certificate (PEM) for the NATS servers\' TLS certificates; requires TLS' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-creds -d 'NATS credentials file (`.creds`: user JWT and NKey seed)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-token -d 'NATS token, for servers set up with token authentication' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l cluster-key -d 'The fleet key: 64 hex characters (`openssl rand -hex 32`). Queued jobs are encrypted with it; required in cluster mode' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l cluster-previous-key -d 'The fleet key before a rotation: jobs sealed with it can still be opened' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-prefix -d 'First token of every stream, bucket and subject name of this fleet' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-replicas -d 'Copies JetStream keeps of the fleet\'s streams and bucket (1 to 5)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l max-attempts -d 'Runs a job gets in cluster mode when its workers are lost; then it fails as `worker_lost`' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l nats-ack-wait-secs -d 'Seconds without a sign of life after which a running job\'s worker counts as lost and the job goes back to the fleet\'s queue' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -l log-format -d 'Format of the service\'s own logs; `RUST_LOG` sets the filter' -r -f -a "text\t''
json\t''"
complete -c corebuild -n "__fish_corebuild_using_subcommand serve" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand completions" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand manpage" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand capabilities" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l wait -d 'Wait for the result (the blocking call) instead of returning at once'
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l follow -d 'Stream the job\'s log until it ends, with the upload\'s progress'
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error; a followed log as one object per line, ending with the job\'s status'
complete -c corebuild -n "__fish_corebuild_using_subcommand submit" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand status" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l state -d 'Only jobs in this state' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand jobs" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l follow -d 'Keep streaming until the job ends'
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l timestamps -d 'Put the local time each line was logged in front of it (ignored with --json, whose lines carry `time`)'
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error; a followed log as one object per line, ending with the job\'s status'
complete -c corebuild -n "__fish_corebuild_using_subcommand logs" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand cancel" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand workers" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l reason -d 'Why, shown in the fleet view (at most 200 characters)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand pause" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l url -d 'The worker\'s base URL (http:// or https://). Unset: the worker on this host, at the port and address its COREBUILD_PORT, COREBUILD_BIND and COREBUILD_TLS_CERT give (http://127.0.0.1:3060 when they are unset too)' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l token -d 'The token to send to the worker, when it requires one' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l ca-file -d 'PEM file of CA certificates to trust for an https:// URL (beside the system\'s)' -r -F
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l timeout -d 'Seconds to connect and to receive a whole answer; the blocking `submit --wait` checks meanwhile that the worker still answers within it' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l idle-timeout -d 'Seconds a followed log may stay silent: the worker sends a keep-alive every 15 s, so this is kept above that. Shown only by the commands that follow a log' -r
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -l json -d 'Print JSON on stdout instead of text: the worker\'s answer, or the error'
complete -c corebuild -n "__fish_corebuild_using_subcommand resume" -s h -l help -d 'Print help'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "serve" -d 'Run the worker (what `corebuild` alone does, configured from the environment)'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "completions" -d 'Print the completion script of a shell on stdout (the package installs them)'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "manpage" -d 'Print the manual page of corebuild, or of one subcommand, in roff on stdout'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "capabilities" -d 'Show what the worker offers and how loaded it is'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "submit" -d 'Submit a job from a JSON file: the job object, or `{"job": {...}}` as the API takes it'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "status" -d 'Show one job'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "jobs" -d 'List the retained jobs, newest first'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "logs" -d 'Print a job\'s log'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "cancel" -d 'Cancel a queued, running or uploading job'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "workers" -d 'List the live workers: standalone the worker itself, in a fleet every worker'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "pause" -d 'Pause the worker: its running jobs finish, it starts nothing new until resumed'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "resume" -d 'Resume a paused worker'
complete -c corebuild -n "__fish_corebuild_using_subcommand help; and not __fish_seen_subcommand_from serve completions manpage capabilities submit status jobs logs cancel workers pause resume help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'

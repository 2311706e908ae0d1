// Package natstest starts real nats-servers for tests: in process, with JetStream on a
// temporary directory and a free loopback port, shut down when the test ends. Every package
// whose tests need NATS uses it, so that a test server is started, awaited and stopped the
// same way everywhere (the project's rule: real parts in tests, never a mock of NATS).
package natstest

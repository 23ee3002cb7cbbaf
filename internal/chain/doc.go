// Package chain is walletmcp's access to an Ethereum chain: a small Chain
// interface with two implementations, RPC (a JSON-RPC node reached through
// go-ethereum's ethclient) and Dev (go-ethereum's dev-mode stack, an
// embedded chain with id 1337 that mines shortly after every Send), plus
// Nonces, a per-account nonce allocator for concurrent senders.
//
// Both implementations share one body of logic written over the methods that
// ethclient.Client and simulated.Client have in common; RPC adds the start-up
// chain-id check, Dev adds the miner goroutine.
//
// # Reads
//
// Balances and side-effect-free calls are read at a known head and kept for
// that block only (blockCache): a repeated read in the same block costs
// nothing, and a new head drops every kept answer. Dev reads its head, state
// and pool directly (no JSON-RPC encoding or handler) on every call, so it is
// never behind its own chain. RPC asks the node for its head
// (eth_blockNumber) on every read, so it is never behind the node either,
// and reads at that block number: a repeated read in the same block costs
// that one round trip instead of two.
//
// Over a websocket (a ws:// or wss:// URL) RPC also subscribes to the
// node's new heads (eth_subscribe newHeads, go-ethereum's client) and keeps
// the head it was told about; a pushed head drops the cache, even at the
// same number (a reorganisation). A pushed head lags the node by the time
// its notification takes to arrive, so only reads that merely inform use
// it: those whose context is marked AtPushedHead (the read tools: the
// Guard's Balance behind get_balance, with the token calls behind it). They
// are read at the pushed head, with no round trip when already kept, and
// not at a block below one this RPC saw otherwise (an eth_blockNumber
// answer, a receipt's block: a transfer seen mined is seen in the balance)
// until the node pushes a lower head (a reorganisation, which is kept).
// Every other read (the Guard's balance, nonce and fee facts before a
// decision, the reservation's checks, everything the limits shared by two
// serves depend on) asks eth_blockNumber as over http, so it is no staler
// than the node at the call. The pushed head is used only while it can be
// vouched for: the subscription is set up, seeded with eth_blockNumber and
// has not failed, and it was last seen in step with the node (a
// notification, or an eth_blockNumber answer equal to the last head it
// reported) less than Options.HeadTrust (default 1s) ago. Otherwise a
// marked read asks eth_blockNumber too (an answer equal to the reported
// head renews the trust; a higher one is read at but renews nothing). A
// subscription that failed, or stayed behind eth_blockNumber for
// HeadTrust, is set up again in the background with a back-off. Across
// processes (two serves on one node) a read tool may lag another process's
// view by a notification's latency; their limits are shared through the
// store and checked with decision reads, not with read tools. Over http
// every read costs the one round trip.
//
// # Security model
//
// The node is not trusted. Every answer that the rest of walletmcp acts on is
// checked before it is returned, and an answer that fails a check is an error
// wrapping ErrImplausible, never a value:
//
//   - the node's chain id must equal the configured one (Dial fails with
//     ErrChainIDMismatch otherwise), and Send refuses a transaction signed
//     for another chain or without replay protection;
//   - suggested tips and fee caps must not exceed Options.MaxFeePerGas, and
//     the tip must not exceed the fee cap;
//   - a receipt or transaction must carry the hash that was asked for;
//   - a balance must not be negative, a header must be present;
//   - a gas estimate must not exceed the latest block's gas limit.
//
// Every call runs under a per-call timeout, and HTTP response bodies are
// size-limited, so a hostile or stuck node can delay an operation but not
// hang it or exhaust memory. Text in node errors is passed on wrapped; callers
// that show errors to an agent must treat it as untrusted.
package chain

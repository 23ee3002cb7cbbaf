package main

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/walletmcp/walletmcp/mcpserver"
	"github.com/walletmcp/walletmcp/mcpserver/mcphttp"
)

// connect is the stdio bridge an MCP host launches instead of serve: it
// relays MCP between stdin/stdout and a walletmcp daemon. It opens no home
// and holds no key and no policy; only the token, read from a file.
func (c *cli) connect(ctx context.Context, args []string) error {
	fs := c.flags("connect")
	tokenFile := fs.String("token-file", "", "file holding the bearer token (from walletmcp token new)")
	addr, err := c.parsePositional(fs, args, "give the daemon's address: unix:PATH or https://HOST:PORT/mcp")
	if err != nil {
		return err
	}
	if *tokenFile == "" {
		return &exitError{code: 2, err: errors.New("connect: --token-file is required")}
	}
	token, err := mcphttp.ReadTokenFile(*tokenFile)
	if err != nil {
		return err
	}
	remote, err := mcphttp.ClientTransport(addr, token)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	local := &mcpserver.StdioTransport{In: c.stdin, Out: c.stdout, Stop: ctx.Done()}
	if err := mcphttp.Bridge(context.WithoutCancel(ctx), local, remote); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	return nil
}

// parsePositional parses flags before and after exactly one positional
// argument, which it returns; what names the argument when it is missing.
func (c *cli) parsePositional(fs *flag.FlagSet, args []string, what string) (string, error) {
	var pos []string
	for {
		if err := c.parseFlags(fs, args); err != nil {
			return "", err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != 1 {
		return "", &exitError{code: 2, err: fmt.Errorf("%s: %s", fs.Name(), what)}
	}
	return pos[0], nil
}

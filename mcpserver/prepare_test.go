package mcpserver

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Prepare, run while servers are built (as serve does), leaves every tool
// with the schemas its types give, the same for every server: one made
// before anything was cached, and ones made concurrently with Prepare.
func TestPrepareSharesTheSchemasTypesGive(t *testing.T) {
	schemaCache.Clear()
	tools := func() map[string]*mcp.Tool {
		t.Helper()
		s := &Server{mcp: mcp.NewServer(&mcp.Implementation{Name: "t"}, nil)}
		if err := s.addTools(); err != nil {
			t.Error(err)
			return nil
		}
		ctx := context.Background()
		st, ct := mcp.NewInMemoryTransports()
		ss, err := s.mcp.Connect(ctx, st, nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer ss.Close()
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "c"}, nil).Connect(ctx, ct, nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer cs.Close()
		res, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Error(err)
			return nil
		}
		got := map[string]*mcp.Tool{}
		for _, tool := range res.Tools {
			got[tool.Name] = tool
		}
		return got
	}
	first := tools() // computes and caches
	var wg sync.WaitGroup
	results := make([]map[string]*mcp.Tool, 4)
	for i := range results {
		wg.Go(func() { Prepare(); results[i] = tools() })
	}
	wg.Wait()
	if len(first) < 9 {
		t.Fatalf("%d tools", len(first))
	}
	for _, got := range results {
		for name, tool := range first {
			g, ok := got[name]
			if !ok {
				t.Fatalf("%s missing", name)
			}
			if !reflect.DeepEqual(jsonOf(t, g.InputSchema), jsonOf(t, tool.InputSchema)) || !reflect.DeepEqual(jsonOf(t, g.OutputSchema), jsonOf(t, tool.OutputSchema)) {
				t.Errorf("%s: schemas differ between servers", name)
			}
		}
	}
	// What every server got is what each tool's types give, computed
	// afresh (tools that share an input type have different outputs).
	fresh := map[string]func() (in, out any){
		ToolListAccounts:           freshSchemas[emptyIn, listAccountsOut],
		ToolGetBalance:             freshSchemas[balanceIn, BalanceView],
		ToolGetPolicy:              freshSchemas[policyIn, PolicyView],
		ToolPrepareTransfer:        freshSchemas[transferIn, prepareOut],
		ToolSendTransfer:           freshSchemas[sendIn, sendOut],
		ToolGetApproval:            freshSchemas[approvalIn, ApprovalView],
		ToolGetTransaction:         freshSchemas[txIn, txOut],
		ToolCreateOfflineRequest:   freshSchemas[transferIn, offlineRequestOut],
		ToolSubmitOfflineSignature: freshSchemas[submitIn, submitOut],
	}
	if len(fresh) != len(first) {
		t.Fatalf("%d tools listed, %d in this test's table", len(first), len(fresh))
	}
	for name, f := range fresh {
		in, out := f()
		if !reflect.DeepEqual(jsonOf(t, first[name].InputSchema), jsonOf(t, in)) || !reflect.DeepEqual(jsonOf(t, first[name].OutputSchema), jsonOf(t, out)) {
			t.Errorf("%s: the schemas listed are not what its types give", name)
		}
	}
	a, _ := schemasFor[sendIn, sendOut]()
	if b, _ := schemasFor[sendIn, sendOut](); a != b {
		t.Error("schemas computed twice")
	}
}

// freshSchemas computes a tool's schemas without the cache.
func freshSchemas[In, Out any]() (any, any) {
	spec, err := specFor[In]()
	if err != nil {
		panic(err)
	}
	in, err := spec.schema(reflect.TypeFor[In]())
	if err != nil {
		panic(err)
	}
	out, err := jsonschema.For[Out](nil)
	if err != nil {
		panic(err)
	}
	plainArrays(out)
	return in, out
}

func jsonOf(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

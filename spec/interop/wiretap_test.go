package interop

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Wiretap: with INTEROP_WIRETAP=<file>, every call that reaches an SDK proxy the harness starts
// (nsmgr-proxy and registry-proxy-dns) is appended to <file>: method, incoming metadata, each message
// received and sent (protojson), response header/trailer metadata and the final status. In the mixed
// tests this shows exactly what pnsmgr sends to the SDK's proxy and what it gets back. Written to a
// file (not t.Logf) because streams outlive the test that opened them.

var wiretapMu sync.Mutex

func wiretapEnabled() bool { return os.Getenv("INTEROP_WIRETAP") != "" }

func wiretapf(format string, args ...any) {
	path := os.Getenv("INTEROP_WIRETAP")
	if path == "" {
		return
	}
	wiretapMu.Lock()
	defer wiretapMu.Unlock()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return
	}
	defer func() { _ = f.Close() }()
	_, _ = fmt.Fprintf(f, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

func describeMD(md metadata.MD) string {
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, md[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func describeMsg(m any) string {
	if pm, ok := m.(proto.Message); ok {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(pm)
		if err == nil {
			return string(b)
		}
	}
	return fmt.Sprintf("%v", m)
}

// wiretapOptions are the server options of a tapped SDK proxy (none unless INTEROP_WIRETAP is set).
func wiretapOptions(server string) []grpc.ServerOption {
	if !wiretapEnabled() {
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			md, _ := metadata.FromIncomingContext(ctx)
			wiretapf("[%s] unary %s in-md=%s req=%s", server, info.FullMethod, describeMD(md), describeMsg(req))
			if sts := grpc.ServerTransportStreamFromContext(ctx); sts != nil {
				ctx = grpc.NewContextWithServerTransportStream(ctx, &tappedTransportStream{ServerTransportStream: sts, server: server})
			}
			resp, err := handler(ctx, req)
			wiretapf("[%s] unary %s resp=%s err=%v", server, info.FullMethod, describeMsg(resp), err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			md, _ := metadata.FromIncomingContext(ss.Context())
			id := fmt.Sprintf("%p", ss)
			wiretapf("[%s] stream %s %s opened in-md=%s", server, id, info.FullMethod, describeMD(md))
			err := handler(srv, &tappedStream{ServerStream: ss, server: server, id: id, method: info.FullMethod})
			wiretapf("[%s] stream %s %s ended err=%v", server, id, info.FullMethod, err)
			return err
		}),
	}
}

type tappedStream struct {
	grpc.ServerStream
	server, id, method string
}

func (s *tappedStream) RecvMsg(m any) error {
	err := s.ServerStream.RecvMsg(m)
	if err == nil {
		wiretapf("[%s] stream %s %s recv %s", s.server, s.id, s.method, describeMsg(m))
	}
	return err
}

func (s *tappedStream) SendMsg(m any) error {
	wiretapf("[%s] stream %s %s send %s", s.server, s.id, s.method, describeMsg(m))
	return s.ServerStream.SendMsg(m)
}

func (s *tappedStream) SetHeader(md metadata.MD) error {
	wiretapf("[%s] stream %s %s set-header %s", s.server, s.id, s.method, describeMD(md))
	return s.ServerStream.SetHeader(md)
}

func (s *tappedStream) SendHeader(md metadata.MD) error {
	wiretapf("[%s] stream %s %s send-header %s", s.server, s.id, s.method, describeMD(md))
	return s.ServerStream.SendHeader(md)
}

func (s *tappedStream) SetTrailer(md metadata.MD) {
	wiretapf("[%s] stream %s %s trailer %s", s.server, s.id, s.method, describeMD(md))
	s.ServerStream.SetTrailer(md)
}

// tappedTransportStream shows the response metadata of unary calls (e.g. the registry's `path` header).
type tappedTransportStream struct {
	grpc.ServerTransportStream
	server string
}

func (s *tappedTransportStream) SetHeader(md metadata.MD) error {
	wiretapf("[%s] unary %s set-header %s", s.server, s.Method(), describeMD(md))
	return s.ServerTransportStream.SetHeader(md)
}

func (s *tappedTransportStream) SendHeader(md metadata.MD) error {
	wiretapf("[%s] unary %s send-header %s", s.server, s.Method(), describeMD(md))
	return s.ServerTransportStream.SendHeader(md)
}

func (s *tappedTransportStream) SetTrailer(md metadata.MD) error {
	wiretapf("[%s] unary %s trailer %s", s.server, s.Method(), describeMD(md))
	return s.ServerTransportStream.SetTrailer(md)
}

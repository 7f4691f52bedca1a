package messages_test

import (
	"errors"
	"fmt"

	"github.com/jetrun/jetrun/messages"
)

// A producer encodes a task and publishes it on its queue's subject with
// the header Nats-Msg-Id set to the task id.
func ExampleEncode() {
	subj := messages.NewSubjects("")
	task := &messages.Task{ID: "hello-1", Image: "busybox", Cmd: []string{"echo", "hello"}}
	if err := subj.ValidateTask(task); err != nil {
		fmt.Println(err)
		return
	}
	data, err := messages.Encode(task)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(subj.Task(messages.DefaultQueue), messages.MsgIDHeader+":", task.ID)
	fmt.Printf("% x\n", data[:12])
	fmt.Println("events under", subj.Reply(task)+".>")
	// Output:
	// jetrun.tasks.default Nats-Msg-Id: hello-1
	// 83 a2 69 64 a7 68 65 6c 6c 6f 2d 31
	// events under jetrun.events.hello-1.>
}

// A worker tells a payload it cannot read from a task it must refuse.
func ExampleDecodeTask() {
	for _, payload := range [][]byte{
		[]byte("not msgpack"),
		mustEncode(&messages.Task{ID: "t1", Image: "busybox", Volumes: [][]string{{"/data", "in"}}}),
	} {
		task, err := messages.DecodeTask(payload)
		if err == nil {
			err = task.Validate()
		}
		switch {
		case errors.Is(err, messages.ErrUndecodable):
			fmt.Println("undecodable:", err)
		case errors.Is(err, messages.ErrInvalid):
			fmt.Println("refused:", err)
		}
	}
	// Output:
	// undecodable: decode task: payload is not a map (first byte 0x6e)
	// refused: invalid task: volumes[0][1]: container path "in" is not absolute
}

func mustEncode(v any) []byte {
	b, err := messages.Encode(v)
	if err != nil {
		panic(err)
	}
	return b
}

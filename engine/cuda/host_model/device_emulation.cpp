// Runs the engine's CUDA kernels, compiled as C++ (device/device_emulation.h), on the host.
// Each block's threads run on cooperative fibers (Boost.Context) of the host thread that
// runs the grid, block after block. A worker fiber takes the block's next thread that has
// not started and runs it to its end, then the next: a kernel without barriers runs on one
// fiber. A thread that reaches a barrier (__syncthreads, a warp shuffle or ballot) waits
// there on its worker's stack; the last thread to arrive opens the barrier, and the threads
// it opens resume in order. Workers switch straight to one another: to the next thread
// whose barrier opened, else to a worker for the next thread not started; with neither, back
// to the host thread, where a block with threads still waiting is a fault (they would wait
// forever on a GPU).
#include "device/device_emulation.h"

#include "host_streams.h"

#include <boost/context/fiber.hpp>
#include <pthread.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define SHARD_ASAN_FIBERS 1
#endif

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace shard::cuda::emu {

namespace {

namespace ctx = boost::context;

// Room for a kernel's frames and the host's math functions; sanitizers need more.
constexpr std::size_t kStackBytes = 256 * 1024;
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr std::size_t kMaxDynamicShared = 48 * 1024; // without cudaFuncSetAttribute
constexpr unsigned kWarpSize = 32;

enum class Wait { Running, Block, Warp, Done };

struct Worker;

struct Thread {
    uint3 index{};
    Wait wait = Wait::Running;
    Worker* worker = nullptr;
    WarpOp op = WarpOp::Shuffle;
    unsigned mask = 0;
    std::uint64_t value = 0;
    int lane_mask = 0;
    std::uint64_t result = 0;
};

struct Stack {
    const void* bottom = nullptr;
    std::size_t size = 0;
};

struct Worker {
    ctx::fiber fiber; // the worker, while it is suspended
    Stack stack;
    Thread* thread = nullptr; // the thread it runs, or none (idle)
    bool abandoned = false; // its thread never ends: unwind its stack and end the fiber
};

// Thrown on a worker's own stack when the scheduler abandons it.
struct Abandoned { };

struct Block {
    std::vector<Thread> threads;
    std::size_t next = 0; // the first thread not started
    const std::function<void()>* body = nullptr;
    // Barrier bookkeeping: threads waiting at each warp's intrinsic, lanes of each warp that
    // have ended, threads at __syncthreads, threads ended; threads to resume, in order.
    std::vector<unsigned> warp_waiting, warp_done;
    std::size_t block_waiting = 0, done = 0;
    std::vector<Thread*> ready;
    std::size_t ready_head = 0;
    std::string fault; // why the block cannot go on, where a GPU would hang or compute garbage
};

// What the host thread runs now. A host thread runs one grid at a time, block by block.
thread_local Thread* t_current = nullptr;
thread_local Block* t_block = nullptr;
thread_local uint3 t_block_idx{};
thread_local dim3 t_block_dim;
thread_local dim3 t_grid_dim;
thread_local const char* t_kernel = "";
thread_local std::vector<unsigned char> t_dynamic_shared;

// Switches: each context saves itself and jumps straight to the next one to run (another
// worker, or the scheduler on the host thread's own stack). The context jumped to stores
// the one that left in the slot that one named. AddressSanitizer is told of every switch,
// so it knows which stack runs.
thread_local ctx::fiber t_scheduler;
thread_local ctx::fiber* t_save_in = nullptr;

#if defined(SHARD_ASAN_FIBERS)
const Stack& scheduler_stack()
{
    thread_local const Stack stack = [] {
        pthread_attr_t attributes;
        void* bottom = nullptr;
        std::size_t size = 0;
        if (pthread_getattr_np(pthread_self(), &attributes) == 0) {
            pthread_attr_getstack(&attributes, &bottom, &size);
            pthread_attr_destroy(&attributes);
        }
        return Stack{bottom, size};
    }();
    return stack;
}
#endif

void jump(Worker* target, ctx::fiber* save_me_in)
{
    ctx::fiber& to = target ? target->fiber : t_scheduler;
#if defined(SHARD_ASAN_FIBERS)
    const Stack& stack = target ? target->stack : scheduler_stack();
    void* fake_stack = nullptr;
    __sanitizer_start_switch_fiber(&fake_stack, stack.bottom, stack.size);
#endif
    t_save_in = save_me_in;
    ctx::fiber from = std::move(to).resume();
#if defined(SHARD_ASAN_FIBERS)
    __sanitizer_finish_switch_fiber(fake_stack, nullptr, nullptr);
#endif
    if (from)
        *t_save_in = std::move(from);
}

// A worker switches to the next context (nullptr: the scheduler); once resumed, it ends
// if the scheduler abandoned it.
void switch_from(Worker* self, Worker* next)
{
    jump(next, &self->fiber);
    if (self->abandoned)
        throw Abandoned{};
}

// Called by a thread of the block: the block stops there, the scheduler abandons the
// workers of threads that did not end and throws KernelFault.
[[noreturn]] void fail(const std::string& what)
{
    t_block->fault = what;
    switch_from(t_current->worker, nullptr);
    std::abort(); // not reached: an abandoned worker never returns here
}

const char* op_name(WarpOp op)
{
    return op == WarpOp::Shuffle ? "__shfl_xor_sync" : "__ballot_sync";
}

std::size_t warp_of(const Block& block, const Thread& t)
{
    return std::size_t(&t - block.threads.data()) / kWarpSize;
}

// Every lane of the warp waits at its intrinsic: each gets its result and is resumed.
void open_warp(Block& block, std::size_t warp)
{
    const std::size_t first = warp * kWarpSize;
    const std::size_t end = std::min(first + kWarpSize, block.threads.size());
    const Thread& lead = block.threads[first];
    auto where = [&] { return std::string(op_name(lead.op)) + " in warp " + std::to_string(warp); };
    if (end - first != kWarpSize)
        fail(where() + ": the warp has " + std::to_string(end - first) + " lanes (blockDim not a multiple of 32)");
    std::uint64_t ballot = 0;
    for (std::size_t i = first; i < end; ++i) {
        const Thread& t = block.threads[i];
        if (t.op != lead.op || t.mask != 0xffffffffu)
            fail(where() + ": lanes disagree on the intrinsic or use a partial mask");
        if (t.value)
            ballot |= std::uint64_t(1) << (i - first);
    }
    for (std::size_t i = first; i < end; ++i) {
        Thread& t = block.threads[i];
        const std::size_t source = first + ((i - first) ^ unsigned(t.lane_mask & 31));
        t.result = t.op == WarpOp::Ballot ? ballot : block.threads[source].value;
        t.wait = Wait::Running;
        block.ready.push_back(&t);
    }
    block.warp_waiting[warp] = 0;
}

// Every thread that has not ended waits at __syncthreads: resume them all.
void maybe_open_block(Block& block)
{
    if (block.block_waiting == 0 || block.block_waiting + block.done != block.threads.size())
        return;
    for (Thread& t : block.threads)
        if (t.wait == Wait::Block) {
            t.wait = Wait::Running;
            block.ready.push_back(&t);
        }
    block.block_waiting = 0;
}

void thread_ended(Block& block, Thread& t)
{
    t.wait = Wait::Done;
    ++block.done;
    const std::size_t warp = warp_of(block, t);
    ++block.warp_done[warp];
    if (block.warp_waiting[warp])
        fail(std::string(op_name(block.threads[warp * kWarpSize].op)) + " in warp " + std::to_string(warp) + ": lane "
             + std::to_string(&t - block.threads.data() - std::ptrdiff_t(warp * kWarpSize))
             + " has exited (the full mask waits for it)");
    maybe_open_block(block);
}

void run_threads(Worker* self);

// Boost.Context's fixed-size stacks, noting where each lies (for AddressSanitizer).
class NotedStack {
public:
    NotedStack(std::size_t bytes, Stack* note)
        : m_inner(bytes)
        , m_note(note)
    { }
    ctx::stack_context allocate()
    {
        ctx::stack_context context = m_inner.allocate();
        *m_note = Stack{static_cast<const char*>(context.sp) - context.size, context.size};
        return context;
    }
    void deallocate(ctx::stack_context& context) noexcept { m_inner.deallocate(context); }

private:
    ctx::fixedsize_stack m_inner;
    Stack* m_note;
};

class WorkerPool {
public:
    WorkerPool() = default;
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;
    ~WorkerPool()
    {
        for (auto& w : m_all)
            abandon(*w);
    }

    Worker* take()
    {
        if (!m_idle.empty()) {
            Worker* w = m_idle.back();
            m_idle.pop_back();
            return w;
        }
        auto w = std::make_unique<Worker>();
        Worker* self = w.get();
        // Stack tops at different offsets in the cache: tops a multiple of 4 KiB apart would
        // all compete for the same cache sets.
        const std::size_t stack_bytes = kStackBytes + (m_all.size() % 61) * 64;
        w->fiber = ctx::fiber(std::allocator_arg, NotedStack(stack_bytes, &w->stack), [self](ctx::fiber&& from) {
#if defined(SHARD_ASAN_FIBERS)
            __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
            *t_save_in = std::move(from);
            try {
                if (!self->abandoned)
                    run_threads(self);
            } catch (const Abandoned&) {
            }
#if defined(SHARD_ASAN_FIBERS)
            __sanitizer_start_switch_fiber(nullptr, scheduler_stack().bottom, scheduler_stack().size);
#endif
            return std::move(t_scheduler); // the fiber ends; its stack is freed
        });
        m_all.push_back(std::move(w));
        return self;
    }
    void give_back(Worker* w)
    {
        m_idle.push_back(w);
    }
    // After a fault: ends the workers whose threads never ended.
    void drop_busy()
    {
        std::erase_if(m_all, [](const std::unique_ptr<Worker>& w) {
            if (!w->thread)
                return false;
            abandon(*w);
            return true;
        });
    }

private:
    // Resumes the worker only to unwind its stack (Abandoned) and end its fiber.
    static void abandon(Worker& w)
    {
        if (!w.fiber)
            return;
        w.abandoned = true;
        jump(&w, &t_scheduler);
    }

    std::vector<std::unique_ptr<Worker>> m_all;
    std::vector<Worker*> m_idle;
};

thread_local WorkerPool t_pool;

// The worker to run next: a waiting thread whose barrier opened, else a worker for the next
// thread not started, else none (the block is finished or stuck).
Worker* pick_next(Block& block)
{
    if (block.ready_head < block.ready.size()) {
        Thread* t = block.ready[block.ready_head++];
        t_current = t;
        return t->worker;
    }
    if (block.next < block.threads.size())
        return t_pool.take();
    return nullptr;
}

// The running worker stops (its thread waits, or it has none left) and the next one runs.
void leave(Worker* self)
{
    Worker* next = pick_next(*t_block);
    if (next != self)
        switch_from(self, next);
}

// A worker's life: it runs the block's threads that have not started, one after another (a
// thread that waits at a barrier waits on this worker's stack); with none left it is idle.
void run_threads(Worker* self)
{
    for (;;) {
        Block& block = *t_block;
        while (block.next < block.threads.size()) {
            Thread& thread = block.threads[block.next++];
            thread.worker = self;
            self->thread = &thread;
            t_current = &thread;
            (*block.body)();
            thread_ended(block, thread);
        }
        self->thread = nullptr;
        t_pool.give_back(self);
        leave(self);
    }
}

// A thread reaches a barrier: it waits there, and the last to arrive opens it.
void suspend(Wait wait)
{
    Thread* me = t_current;
    Block& block = *t_block;
    me->wait = wait;
    if (wait == Wait::Warp) {
        const std::size_t warp = warp_of(block, *me);
        if (block.warp_done[warp])
            fail(std::string(op_name(me->op)) + " in warp " + std::to_string(warp)
                 + ": a lane has exited (the full mask waits for it)");
        const std::size_t lanes = std::min<std::size_t>(kWarpSize, block.threads.size() - warp * kWarpSize);
        if (++block.warp_waiting[warp] == lanes)
            open_warp(block, warp);
    } else {
        ++block.block_waiting;
        maybe_open_block(block);
    }
    leave(me->worker);
}

void run_block(Block& block)
{
    t_block = &block;
    block.next = 0;
    block.done = 0;
    block.block_waiting = 0;
    std::fill(block.warp_waiting.begin(), block.warp_waiting.end(), 0u);
    std::fill(block.warp_done.begin(), block.warp_done.end(), 0u);
    block.ready.clear();
    block.ready_head = 0;
    block.fault.clear();
    for (Thread& t : block.threads) {
        t.wait = Wait::Running;
        t.worker = nullptr;
    }
    jump(t_pool.take(), &t_scheduler); // back when no worker has anything to run
    if (block.fault.empty() && block.done != block.threads.size())
        block.fault = std::to_string(block.threads.size() - block.done)
                      + " threads wait forever: some at __syncthreads, others of the same warp at a warp intrinsic";
    if (!block.fault.empty()) {
        t_pool.drop_busy();
        throw KernelFault("device emulation: kernel " + std::string(t_kernel) + ", block ("
                          + std::to_string(t_block_idx.x) + ", " + std::to_string(t_block_idx.y) + ", "
                          + std::to_string(t_block_idx.z) + "): " + block.fault);
    }
}

void run_grid(const LaunchConfig& config, const std::function<void()>& body)
{
    t_kernel = config.kernel;
    t_grid_dim = config.grid;
    t_block_dim = config.block;
    Block block;
    block.body = &body;
    const dim3 b = config.block;
    block.threads.resize(std::size_t(b.x) * b.y * b.z);
    block.warp_waiting.resize((block.threads.size() + kWarpSize - 1) / kWarpSize);
    block.warp_done.resize(block.warp_waiting.size());
    block.ready.reserve(block.threads.size() * 2);
    for (std::size_t i = 0; i < block.threads.size(); ++i)
        block.threads[i].index =
            uint3{unsigned(i % b.x), unsigned(i / b.x % b.y), unsigned(i / (std::size_t(b.x) * b.y))};
    for (unsigned z = 0; z < config.grid.z; ++z)
        for (unsigned y = 0; y < config.grid.y; ++y)
            for (unsigned x = 0; x < config.grid.x; ++x) {
                t_block_idx = uint3{x, y, z};
                // Shared memory starts as garbage on a GPU: NaN bytes here, so a read before a
                // write shows.
                t_dynamic_shared.assign(config.shared, 0xff);
                run_block(block);
            }
    t_block = nullptr;
    t_current = nullptr;
}

} // namespace

void check_config(const LaunchConfig& c)
{
    const std::size_t threads = std::size_t(c.block.x) * c.block.y * c.block.z;
    std::string problem;
    if (threads == 0 || threads > kMaxThreadsPerBlock || c.block.z > 64)
        problem = "a block of " + std::to_string(threads) + " threads (1 to 1024)";
    else if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || c.grid.y > 65535 || c.grid.z > 65535
             || c.grid.x > 0x7fffffffu)
        problem = "a grid of (" + std::to_string(c.grid.x) + ", " + std::to_string(c.grid.y) + ", "
                  + std::to_string(c.grid.z) + ") blocks";
    else if (c.shared > kMaxDynamicShared)
        problem = std::to_string(c.shared) + " bytes of dynamic shared memory (48 KiB without opting in)";
    if (!problem.empty())
        throw std::invalid_argument(std::string("launch of ") + c.kernel + ": " + problem
                                    + " (cudaErrorInvalidConfiguration on a GPU)");
}

void enqueue_grid(cudaStream_t stream, const LaunchConfig& config, std::function<void()> body)
{
    host::enqueue(stream, [config, body = std::move(body)] { run_grid(config, body); });
}

const uint3& thread_idx()
{
    return t_current->index;
}

const uint3& block_idx()
{
    return t_block_idx;
}

const dim3& block_dim()
{
    return t_block_dim;
}

const dim3& grid_dim()
{
    return t_grid_dim;
}

void sync_threads()
{
    suspend(Wait::Block);
}

std::uint64_t warp_exchange(WarpOp op, unsigned mask, std::uint64_t value, int lane_mask)
{
    Thread* me = t_current;
    me->op = op;
    me->mask = mask;
    me->value = value;
    me->lane_mask = lane_mask;
    suspend(Wait::Warp);
    return me->result;
}

void* dynamic_shared()
{
    return t_dynamic_shared.data();
}

} // namespace shard::cuda::emu

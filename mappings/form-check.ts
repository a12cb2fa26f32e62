/**
 * Whether a QuestionnaireResponse answers its Questionnaire (pure): every
 * item is one of the form's, where the form puts it; each answer has the
 * item's type (a choice among its options); an item that repeats not is
 * answered once; an item not asked (enableWhen) is not answered; and, for a
 * completed response, every required item asked is answered. FHIR R4,
 * Questionnaire and QuestionnaireResponse; enableWhen with `exists`, `=`,
 * `!=`, `>`, `<`, `>=`, `<=`.
 */
import type { Questionnaire, QuestionnaireItem, QuestionnaireItemEnableWhen, QuestionnaireResponse, QuestionnaireResponseItem, QuestionnaireResponseItemAnswer } from '@medplum/fhirtypes';

/** A problem of a response, with where it is. */
export interface FormIssue {
  message: string;
  expression: string;
}

/** The answer element each item type takes. */
const VALUE_OF: Record<string, readonly (keyof QuestionnaireResponseItemAnswer)[]> = {
  boolean: ['valueBoolean'],
  decimal: ['valueDecimal'],
  integer: ['valueInteger'],
  date: ['valueDate'],
  dateTime: ['valueDateTime'],
  time: ['valueTime'],
  string: ['valueString'],
  text: ['valueString'],
  url: ['valueUri'],
  choice: ['valueCoding'],
  'open-choice': ['valueCoding', 'valueString'],
  attachment: ['valueAttachment'],
  reference: ['valueReference'],
  quantity: ['valueQuantity'],
};

type Answers = ReadonlyMap<string, readonly QuestionnaireResponseItemAnswer[]>;

/** Every answer of the response, by linkId (linkIds are unique within a Questionnaire). */
function answersOf(items: readonly QuestionnaireResponseItem[] | undefined, into = new Map<string, QuestionnaireResponseItemAnswer[]>()): Map<string, QuestionnaireResponseItemAnswer[]> {
  for (const item of items ?? []) {
    if (item.answer?.length) into.set(item.linkId, [...(into.get(item.linkId) ?? []), ...item.answer]);
    answersOf(item.item, into);
    for (const answer of item.answer ?? []) answersOf(answer.item, into);
  }
  return into;
}

/** The comparable value of an answer (a coding as system|code). */
function valueOf(answer: object): unknown {
  const entry = Object.entries(answer).find(([k]) => k.startsWith('value') || k.startsWith('answer'));
  const value = entry?.[1] as unknown;
  if (value && typeof value === 'object' && 'code' in value) return `${(value as { system?: string }).system ?? ''}|${(value as { code?: string }).code ?? ''}`;
  return value;
}

function holds(condition: QuestionnaireItemEnableWhen, answers: Answers): boolean {
  const given = answers.get(condition.question) ?? [];
  if (condition.operator === 'exists') return given.length > 0 === (condition.answerBoolean ?? true);
  const expected = valueOf(condition);
  return given.some((answer) => {
    const actual = valueOf(answer);
    switch (condition.operator) {
      case '=':
        return actual === expected;
      case '!=':
        return actual !== expected;
      case '>':
        return (actual as number) > (expected as number);
      case '<':
        return (actual as number) < (expected as number);
      case '>=':
        return (actual as number) >= (expected as number);
      case '<=':
        return (actual as number) <= (expected as number);
      default:
        return false;
    }
  });
}

/** Whether the form asks an item, given the answers (its enableWhen). */
function asked(item: QuestionnaireItem, answers: Answers): boolean {
  const conditions = item.enableWhen ?? [];
  if (conditions.length === 0) return true;
  return item.enableBehavior === 'any' ? conditions.some((c) => holds(c, answers)) : conditions.every((c) => holds(c, answers));
}

function hasAnswers(item: QuestionnaireResponseItem): boolean {
  return (item.answer?.length ?? 0) > 0 || (item.item ?? []).some(hasAnswers);
}

function checkAnswer(question: QuestionnaireItem, answer: QuestionnaireResponseItemAnswer, at: string, issues: FormIssue[]): void {
  const keys = Object.keys(answer).filter((k) => k.startsWith('value'));
  const allowed = VALUE_OF[question.type] ?? [];
  if (keys.length !== 1 || !allowed.includes(keys[0] as keyof QuestionnaireResponseItemAnswer)) {
    issues.push({ message: `“${question.text ?? question.linkId}” (${question.linkId}) is answered with ${allowed.join(' or ') || 'nothing'}`, expression: at });
    return;
  }
  if (question.type === 'integer' && !Number.isInteger(answer.valueInteger)) issues.push({ message: `${question.linkId} is a whole number`, expression: `${at}.valueInteger` });
  if (question.type === 'choice' && question.answerOption) {
    const coding = answer.valueCoding;
    const known = question.answerOption.some((o) => o.valueCoding?.system === coding?.system && o.valueCoding?.code === coding?.code);
    if (!known) {
      const options = question.answerOption.map((o) => o.valueCoding?.code).join(', ');
      issues.push({ message: `${question.linkId} is one of ${options} (system ${question.answerOption[0]?.valueCoding?.system}); not ${coding?.system ?? ''}|${coding?.code ?? ''}`, expression: `${at}.valueCoding` });
    }
  }
}

function checkItems(
  questions: readonly QuestionnaireItem[],
  items: readonly QuestionnaireResponseItem[],
  at: string,
  answers: Answers,
  complete: boolean,
  issues: FormIssue[]
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const here = `${at}.item[${i}]`;
    const question = questions.find((q) => q.linkId === item.linkId);
    if (!question) {
      issues.push({ message: `${item.linkId} is not an item of the form here (items: ${questions.map((q) => q.linkId).join(', ')})`, expression: `${here}.linkId` });
      return;
    }
    if (seen.has(item.linkId) && !question.repeats) issues.push({ message: `${item.linkId} appears twice`, expression: here });
    seen.add(item.linkId);
    if (!asked(question, answers)) {
      if (hasAnswers(item)) issues.push({ message: `${item.linkId} is not asked, given the answers (enableWhen), and takes no answer`, expression: here });
      return;
    }
    if (question.type === 'group' || question.type === 'display') {
      if (item.answer?.length) issues.push({ message: `${item.linkId} is a ${question.type}: its items are answered, not itself`, expression: `${here}.answer` });
      checkItems(question.item ?? [], item.item ?? [], here, answers, complete, issues);
      return;
    }
    if ((item.answer?.length ?? 0) > 1 && !question.repeats) issues.push({ message: `${item.linkId} takes one answer`, expression: `${here}.answer` });
    if (item.item?.length) issues.push({ message: `${item.linkId} is a question: it has no items of its own`, expression: `${here}.item` });
    (item.answer ?? []).forEach((answer, j) => {
      checkAnswer(question, answer, `${here}.answer[${j}]`, issues);
      // The forms nest no question under an answer (nested items are the groups').
      if (answer.item?.length) issues.push({ message: `${item.linkId}'s answers carry no items in this form`, expression: `${here}.answer[${j}].item` });
    });
  });
  if (complete) {
    for (const question of questions) {
      if (!asked(question, answers)) continue;
      const item = items.find((r) => r.linkId === question.linkId);
      if (question.type === 'group') {
        // A block asked is filled: its required items are required, the group present or not.
        if (!item) checkItems(question.item ?? [], [], `${at}.item`, answers, complete, issues);
        continue;
      }
      if (question.required && !item?.answer?.length) {
        issues.push({ message: `“${question.text ?? question.linkId}” (${question.linkId}) is required`, expression: at === 'QuestionnaireResponse' ? 'QuestionnaireResponse.item' : at });
      }
    }
  }
}

/**
 * The problems of a response to `form`; `complete` (status completed or
 * amended) also requires every required item asked.
 */
export function responseIssues(form: Questionnaire, response: QuestionnaireResponse, complete: boolean): FormIssue[] {
  const issues: FormIssue[] = [];
  checkItems(form.item ?? [], response.item ?? [], 'QuestionnaireResponse', answersOf(response.item), complete, issues);
  return issues;
}

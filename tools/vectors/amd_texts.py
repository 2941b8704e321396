"""Texts for the answering-machine corpus (tools/vectors/amd_corpus.py), per language.

For each language: the espeak-ng voices that speak it, names, the short answers a person gives on
picking up (``words``), answers with a name (``named``), what a person says after a pause when
nobody answers (``again``), and the sentences voicemail greetings are built from (``openers``,
``middles``, ``closers``). ``{name}`` and ``{company}`` are filled in by the generator.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Language:
    code: str
    voices: tuple[str, ...]
    names: tuple[str, ...]
    companies: tuple[str, ...]
    words: tuple[str, ...]
    named: tuple[str, ...]
    again: tuple[str, ...]
    openers: tuple[str, ...]
    middles: tuple[str, ...]
    closers: tuple[str, ...]


LANGUAGES: tuple[Language, ...] = (
    Language(
        "en",
        ("en-us", "en-gb", "en-gb-scotland", "en-029", "en-gb-x-rp", "en-us-nyc", "en-gb-x-gbclan", "en-gb-x-gbcwmd"),
        ("John Smith", "Mary Jones", "Peter", "Sarah Miller", "David Brown", "Anna", "Michael Clark"),
        ("Northwind Logistics", "the city hospital", "Acme Plumbing", "Riverside School"),
        ("Hello?", "Hello.", "Yes?", "Yeah?", "Hi.", "Hey.", "Yes, hello?", "Hello, yes?", "Good morning."),
        ("{name} speaking.", "Hello, {name} speaking.", "{name} here.", "This is {name}.", "Hi, it's {name}."),
        ("Hello?", "Who is this?", "Hello? Anyone there?", "Hello?", "Yes?"),
        (
            "Hi, this is {name}.",
            "Hello, you've reached {name}.",
            "You have reached the voicemail of {name}.",
            "The person you are calling is not available.",
            "Thank you for calling {company}.",
            "Hello, this is the voicemail box of {name} at {company}.",
            "Hey, it's {name}.",
            "The number you have dialed is not available at the moment.",
        ),
        (
            "I can't take your call right now.",
            "I'm away from my desk at the moment.",
            "Our office is currently closed.",
            "Our opening hours are Monday to Friday from eight to five.",
            "I'm on holiday until the fifteenth.",
            "Sorry I missed your call.",
            "If this is urgent, please call my mobile.",
        ),
        (
            "Please leave a message after the tone.",
            "Leave your name and number and I'll call you back.",
            "Please leave your name, number and a short message after the beep.",
            "Thanks, bye.",
            "Have a nice day.",
        ),
    ),
    Language(
        "de",
        ("de",),
        ("Müller", "Anna Schmidt", "Thomas Weber", "Petra Fischer", "Meier"),
        ("Stadtwerke Nord", "Praxis Doktor Wolf", "Autohaus Berger"),
        ("Hallo?", "Ja?", "Ja, bitte?", "Ja, hallo?", "Guten Tag."),
        ("{name}.", "{name}, hallo?", "Hier ist {name}.", "{name} am Apparat."),
        ("Hallo?", "Wer ist da?", "Hallo? Ist da jemand?"),
        (
            "Hallo, hier ist {name}.",
            "Sie sind verbunden mit der Mailbox von {name}.",
            "Der gewünschte Gesprächspartner ist zurzeit nicht erreichbar.",
            "Guten Tag, Sie haben {company} erreicht.",
            "Hier ist der Anrufbeantworter von {name}.",
        ),
        (
            "Ich bin gerade nicht erreichbar.",
            "Leider kann ich Ihren Anruf im Moment nicht entgegennehmen.",
            "Unser Büro ist derzeit nicht besetzt.",
            "Unsere Geschäftszeiten sind Montag bis Freitag von acht bis siebzehn Uhr.",
        ),
        (
            "Bitte hinterlassen Sie eine Nachricht nach dem Signalton.",
            "Sprechen Sie nach dem Piepton.",
            "Ich rufe Sie so bald wie möglich zurück.",
            "Vielen Dank und auf Wiederhören.",
        ),
    ),
    Language(
        "fr",
        ("fr-fr", "fr-be", "fr-ch"),
        ("Marie Dubois", "Jean Martin", "Sophie", "Pierre Bernard"),
        ("la mairie", "le cabinet Lefèvre", "Transports Girard"),
        ("Allô?", "Oui?", "Allô, oui?", "Bonjour."),
        ("{name} à l'appareil.", "Oui, {name}.", "Allô, c'est {name}."),
        ("Allô?", "Qui est à l'appareil?", "Allô? Il y a quelqu'un?"),
        (
            "Bonjour, vous êtes bien sur la messagerie de {name}.",
            "Bonjour, c'est {name}.",
            "Votre correspondant n'est pas disponible pour le moment.",
            "Bienvenue chez {company}.",
        ),
        (
            "Je ne peux pas vous répondre pour l'instant.",
            "Nos bureaux sont actuellement fermés.",
            "Nous sommes ouverts du lundi au vendredi de huit heures à dix-sept heures.",
        ),
        (
            "Laissez-moi un message après le bip sonore.",
            "Je vous rappellerai dès que possible.",
            "Merci et à bientôt.",
        ),
    ),
    Language(
        "es",
        ("es", "es-419"),
        ("María García", "José López", "Carmen", "Juan Pérez"),
        ("Talleres Ruiz", "la clínica San Pablo", "Hotel Mirador"),
        ("¿Hola?", "¿Diga?", "¿Sí?", "¿Dígame?", "¿Bueno?"),
        ("Habla {name}.", "Sí, soy {name}.", "{name}, dígame."),
        ("¿Hola?", "¿Quién es?", "¿Hola? ¿Hay alguien?"),
        (
            "Hola, soy {name}.",
            "Ha llamado al buzón de voz de {name}.",
            "El número al que llama no está disponible en este momento.",
            "Gracias por llamar a {company}.",
        ),
        (
            "Ahora mismo no puedo atenderte.",
            "Nuestra oficina está cerrada.",
            "Nuestro horario es de lunes a viernes de ocho a cinco.",
        ),
        ("Deja tu mensaje después de la señal.", "Te llamaré lo antes posible.", "Gracias, adiós."),
    ),
    Language(
        "it",
        ("it",),
        ("Giuseppe Rossi", "Maria Bianchi", "Luca", "Francesca Romano"),
        ("Studio Ferrari", "la farmacia Colombo", "Trasporti Ricci"),
        ("Pronto?", "Sì?", "Pronto, chi parla?", "Buongiorno."),
        ("Sono {name}.", "Pronto, {name}.", "{name}, dica."),
        ("Pronto?", "Chi parla?", "Pronto? C'è qualcuno?"),
        (
            "Ciao, sono {name}.",
            "Risponde la segreteria telefonica di {name}.",
            "Il cliente da lei chiamato non è al momento raggiungibile.",
            "Grazie per aver chiamato {company}.",
        ),
        (
            "In questo momento non posso rispondere.",
            "I nostri uffici sono chiusi.",
            "Siamo aperti dal lunedì al venerdì dalle otto alle diciassette.",
        ),
        (
            "Lasciate un messaggio dopo il segnale acustico.",
            "Vi richiamerò appena possibile.",
            "Grazie e arrivederci.",
        ),
    ),
    Language(
        "nl",
        ("nl",),
        ("Jan de Vries", "Sanne", "Pieter Jansen", "Emma Bakker"),
        ("Bakkerij Visser", "de gemeente", "Garage Smit"),
        ("Hallo?", "Ja?", "Met wie?", "Goedemorgen."),
        ("Met {name}.", "Ja, met {name}.", "{name}."),
        ("Hallo?", "Wie is dit?", "Hallo? Is daar iemand?"),
        (
            "Hallo, u spreekt met de voicemail van {name}.",
            "Hoi, met {name}.",
            "Het nummer dat u belt is op dit moment niet bereikbaar.",
            "Welkom bij {company}.",
        ),
        (
            "Ik ben er op dit moment niet.",
            "Ons kantoor is gesloten.",
            "Wij zijn bereikbaar van maandag tot en met vrijdag van acht tot vijf.",
        ),
        ("Spreek een bericht in na de piep.", "Ik bel u zo snel mogelijk terug.", "Bedankt en tot ziens."),
    ),
    Language(
        "pt",
        ("pt", "pt-br"),
        ("João Silva", "Ana Santos", "Pedro", "Maria Costa"),
        ("a Farmácia Central", "Transportes Oliveira", "a escola Camões"),
        ("Alô?", "Sim?", "Estou?", "Olá?", "Pronto?"),
        ("{name}, bom dia.", "Fala {name}.", "Sim, é {name}."),
        ("Alô?", "Quem fala?", "Alô? Está alguém?"),
        (
            "Olá, fala {name}.",
            "Ligou para a caixa de correio de {name}.",
            "O número que ligou não está disponível de momento.",
            "Obrigado por ligar para {company}.",
        ),
        (
            "Neste momento não posso atender.",
            "O nosso escritório está fechado.",
            "Estamos abertos de segunda a sexta das oito às cinco.",
        ),
        ("Deixe a sua mensagem após o sinal.", "Ligarei de volta logo que possível.", "Obrigado, até logo."),
    ),
    Language(
        "pl",
        ("pl",),
        ("Anna Kowalska", "Piotr Nowak", "Kasia", "Marek Wiśniewski"),
        ("Hurtownia Zając", "przychodnia Zdrowie", "Auto Serwis Lis"),
        ("Halo?", "Tak?", "Słucham?", "Halo, słucham?"),
        ("{name}, słucham.", "Tu {name}.", "Halo, {name}."),
        ("Halo?", "Kto mówi?", "Halo? Jest tam ktoś?"),
        (
            "Dzień dobry, tu poczta głosowa {name}.",
            "Cześć, tu {name}.",
            "Abonent jest czasowo niedostępny.",
            "Dziękujemy za telefon do firmy {company}.",
        ),
        (
            "Nie mogę teraz odebrać.",
            "Nasze biuro jest zamknięte.",
            "Pracujemy od poniedziałku do piątku od ósmej do siedemnastej.",
        ),
        (
            "Proszę zostawić wiadomość po sygnale.",
            "Oddzwonię najszybciej jak to możliwe.",
            "Dziękuję, do widzenia.",
        ),
    ),
    Language(
        "sv",
        ("sv",),
        ("Erik Andersson", "Karin", "Lars Nilsson", "Maja Johansson"),
        ("Bergs Bygg", "vårdcentralen", "Hotell Fjällen"),
        ("Hallå?", "Ja?", "Hej?", "Ja, hallå?"),
        ("{name}.", "Det är {name}.", "Hej, det är {name}."),
        ("Hallå?", "Vem är det?", "Hallå? Är det någon där?"),
        (
            "Hej, det här är {name}.",
            "Du har kommit till {name}s röstbrevlåda.",
            "Abonnenten du söker kan inte nås just nu.",
            "Välkommen till {company}.",
        ),
        (
            "Jag kan inte svara just nu.",
            "Vårt kontor är stängt.",
            "Vi har öppet måndag till fredag mellan åtta och fem.",
        ),
        ("Lämna ett meddelande efter tonen.", "Jag ringer tillbaka så snart jag kan.", "Tack och hej då."),
    ),
    Language(
        "cs",
        ("cs",),
        ("Jan Novák", "Petra Svobodová", "Tomáš", "Eva Dvořáková"),
        ("Stavebniny Černý", "městský úřad", "Autoservis Král"),
        ("Haló?", "Ano?", "Prosím?", "Ano, prosím?"),
        ("{name}, prosím.", "Tady {name}.", "U telefonu {name}."),
        ("Haló?", "Kdo volá?", "Haló? Je tam někdo?"),
        (
            "Dobrý den, dovolali jste se do hlasové schránky {name}.",
            "Ahoj, tady {name}.",
            "Volaný účastník je momentálně nedostupný.",
        ),
        ("Teď nemohu přijmout hovor.", "Naše kancelář je zavřená."),
        ("Zanechte prosím vzkaz po zaznění tónu.", "Zavolám vám zpět, jakmile to bude možné.", "Děkuji, na shledanou."),
    ),
    Language(
        "ru",
        ("ru",),
        ("Иван Петров", "Анна", "Сергей Иванов", "Ольга"),
        ("Стройсервис", "городская поликлиника", "Автотранс"),
        ("Алло?", "Да?", "Слушаю.", "Алло, да?"),
        ("{name}, слушаю.", "Это {name}.", "Да, {name}."),
        ("Алло?", "Кто это?", "Алло? Вас не слышно."),
        ("Здравствуйте, вы позвонили {name}.", "Привет, это {name}.", "Абонент временно недоступен."),
        ("Сейчас я не могу ответить на ваш звонок.", "Наш офис сейчас закрыт."),
        ("Оставьте сообщение после сигнала.", "Я перезвоню вам как можно скорее.", "Спасибо, до свидания."),
    ),
    Language(
        "tr",
        ("tr",),
        ("Mehmet Yılmaz", "Ayşe", "Ahmet Kaya", "Zeynep"),
        ("Yıldız Lojistik", "belediye", "Deniz Otomotiv"),
        ("Alo?", "Efendim?", "Evet?", "Alo, buyurun?"),
        ("{name}, buyurun.", "Ben {name}.", "Alo, {name}."),
        ("Alo?", "Kim arıyor?", "Alo? Kimse yok mu?"),
        ("Merhaba, ben {name}.", "Aradığınız kişiye şu anda ulaşılamıyor.", "{company} aradığınız için teşekkürler."),
        ("Şu anda telefona cevap veremiyorum.", "Ofisimiz şu anda kapalı."),
        (
            "Lütfen sinyal sesinden sonra mesajınızı bırakın.",
            "Sizi en kısa sürede arayacağım.",
            "Teşekkürler, iyi günler.",
        ),
    ),
)
